#!/usr/bin/env bash
# Prepare this machine for the demo and the tests; safe to run again.
#  - .venv with the pinned controller tools (requirements-dev.txt)
#  - a Docker engine: the running one is used; if none answers, docker.io is
#    installed (Debian/Ubuntu) and dockerd started
#  - the local test images (Debian 12 and 13 with systemd), built without a registry
#  - an nginx binary for the fast template tests, unpacked into .cache (not installed)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Host tools (Debian/Ubuntu packages): debootstrap builds the images (the benchmark runs wrk inside its container).
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] || { say "Installing ${missing[*]}"; apt_install "${missing[@]}"; }

# Python tools
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "Installing the pinned tools into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" >"$stamp"
fi

# Docker engine
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    say "Installing a Docker engine (docker.io)"
    apt_install docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    say "Starting dockerd"
    if [ -d /run/systemd/system ]; then
      as_root systemctl start docker
    else
      as_root sh -c 'nohup dockerd >/var/log/flask-nginx-dockerd.log 2>&1 &'
    fi
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start" >&2; exit 1; }
  fi
fi

# Test images
for suite in bookworm trixie; do
  as_root images/build.sh "$suite"
done

# nginx for the fast tests: the distribution's binary, unpacked, never started.
if [ ! -x .cache/nginx/usr/sbin/nginx ]; then
  say "Unpacking an nginx binary for the template tests"
  mkdir -p .cache/nginx
  tmp=$(mktemp -d)
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  (cd "$tmp" && apt-get download -qq nginx >/dev/null 2>&1 || apt-get download -qq nginx-core >/dev/null)
  dpkg -x "$tmp"/*.deb .cache/nginx
  rm -rf "$tmp"
fi
say "Ready"
