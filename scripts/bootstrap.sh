#!/usr/bin/env bash
# Prepare this machine for the demo and the tests; safe to run again.
#  - .venv with the pinned controller tools (requirements-dev.txt)
#  - a Docker engine: the running one is used; if none answers, docker.io is
#    installed (Debian/Ubuntu) and dockerd started
#  - the local test images (Debian 12 and 13 with systemd), built without a registry
#  - an nginx binary for the fast template tests, unpacked into .cache (not installed)
#  - package caches that the test containers share (molecule/*/molecule.yml):
#    an apt caching proxy (Debian's apt-cacher-ng, started when none answers)
#    and a pip cache directory, under $FLASK_NGINX_CACHE (/var/cache/flask-nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
# Part: tools (the virtualenv, the host tools and nginx for the fast tests and
# the lint), machine (Docker, the images, the package caches: what Molecule
# needs), or both (the default). scripts/test.sh runs the machine's part while
# the lint and the fast tests run.
part=${1:-all}
case "$part" in all|tools|machine) ;; *) echo "usage: $0 [all|tools|machine]" >&2; exit 2 ;; esac
tools() { [ "$part" != machine ]; }
machine() { [ "$part" != tools ]; }
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# A daemon started here outlives the suite: it must not inherit the suite's lock
# files (scripts/test.sh holds them on fds 7-9), or it holds them forever and every
# later run of the suite on this machine waits for them.
as_daemon() { as_root "$@" 7>&- 8>&- 9>&-; }
apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Host tools (Debian/Ubuntu packages): debootstrap builds the images (the benchmark runs wrk inside its container).
missing=()
if tools; then
  command -v curl >/dev/null || missing+=(curl)
  command -v openssl >/dev/null || missing+=(openssl)
  # ssh-keygen: the git-over-ssh test makes its deploy key (molecule/default/tests/test_git.py).
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  command -v git >/dev/null || missing+=(git)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if machine; then command -v debootstrap >/dev/null || missing+=(debootstrap); fi
[ ${#missing[@]} -eq 0 ] || { say "Installing ${missing[*]}"; apt_install "${missing[@]}"; }

# Python tools: one virtualenv per version of requirements-dev.txt, kept per
# machine (a fresh clone links .venv to it instead of installing again). A
# .venv of your own (a directory) is kept and brought up to date in place.
if tools; then
  stamp=.requirements.sha256
  want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
  venv=.venv
  # The system's Python, found before .venv changes (PATH may hold .venv/bin, as make's does).
  base_python=$(python3 -c 'import os, sys; print(os.path.join(sys.base_prefix, "bin", "python3"))')
  if [ ! -d .venv ] || [ -L .venv ]; then
    venv=${FLASK_NGINX_CACHE:-/var/cache/flask-nginx}/venv-${want:0:16}
    ln -sfn "$venv" .venv
  fi
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/$stamp" 2>/dev/null)" != "$want" ]; then
    say "Installing the pinned tools into $venv"
    as_root mkdir -p "$(dirname "$venv")"
    "$base_python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    "$venv/bin/pip" install -q -r requirements-dev.txt
    echo "$want" >"$venv/$stamp"
  fi
fi

# nginx for the fast tests: the distribution's binary, unpacked, never started.
if tools; then
  if [ ! -x .cache/nginx/usr/sbin/nginx ]; then
    say "Unpacking an nginx binary for the template tests"
    mkdir -p .cache/nginx
    tmp=$(mktemp -d)
    [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
    (cd "$tmp" && apt-get download -qq nginx >/dev/null 2>&1 || apt-get download -qq nginx-core >/dev/null)
    dpkg -x "$tmp"/*.deb .cache/nginx
    rm -rf "$tmp"
  fi
fi

if machine; then
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
        as_daemon sh -c 'nohup dockerd >/var/log/flask-nginx-dockerd.log 2>&1 &'
      fi
      for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
      docker info >/dev/null 2>&1 || { echo "dockerd did not start" >&2; exit 1; }
    fi
  fi

  # Test images
  for suite in bookworm trixie; do
    as_root images/build.sh "$suite"
  done

  # Package caches for the test containers: each package is downloaded once per
  # machine, not once per container. The containers mount
  #  - $cache/apt-proxy.conf as an apt.conf.d file: the proxy when it answers
  #    here, else empty (apt then goes to the archive directly);
  #  - $cache/pip and $cache/uv as root's pip and uv caches (they still ask the real index, through
  #    the CA bundle, as a user's host does; only the downloads are shared).
  cache=${FLASK_NGINX_CACHE:-/var/cache/flask-nginx}
  as_root mkdir -p "$cache/pip" "$cache/uv" "$cache/apt-cacher-ng/cache" "$cache/apt-cacher-ng/log"
  # The host's address on Docker's default bridge: every container reaches it.
  gateway=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)
  [ -n "$gateway" ] || gateway=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n 1)
  proxy_answers() { curl -fsS -o /dev/null --max-time 3 "http://${gateway:-127.0.0.1}:3142/acng-report.html" 2>/dev/null; }
  if [ -n "$gateway" ] && ! proxy_answers; then
    command -v apt-cacher-ng >/dev/null || {
      say "Installing apt-cacher-ng (the test containers' apt cache)"
      apt_install apt-cacher-ng || true
    }
    if command -v apt-cacher-ng >/dev/null; then
      say "Starting apt-cacher-ng on $gateway:3142"
      # Debian's archive as the containers' sources.list names it: the package's
      # own backends file names mirrors this machine may not reach.
      printf '%s\n' "CacheDir: $cache/apt-cacher-ng/cache" "LogDir: $cache/apt-cacher-ng/log" \
        "SupportDir: /usr/lib/apt-cacher-ng" "PidFile: $cache/apt-cacher-ng/pid" "Port: 3142" \
        "BindAddress: 127.0.0.1 $gateway" "ReportPage: acng-report.html" "ExThreshold: 4" \
        "Remap-debrep: file:deb_mirror*.gz /debian ; http://deb.debian.org/debian/" \
        "Remap-secdeb: security.debian.org deb.debian.org/debian-security ; http://deb.debian.org/debian-security/" \
        | as_root tee "$cache/apt-cacher-ng/acng.conf" >/dev/null
      as_daemon apt-cacher-ng -c "$cache/apt-cacher-ng" ForeGround=0 || true
      for _ in $(seq 20); do proxy_answers && break; sleep 0.5; done
    fi
  fi
  if [ -n "$gateway" ] && proxy_answers; then
    echo "Acquire::http::Proxy \"http://$gateway:3142\";" | as_root tee "$cache/apt-proxy.conf.new" >/dev/null
  else
    say "No apt cache: the test containers download from the archive directly"
    as_root cp /dev/null "$cache/apt-proxy.conf.new"
  fi
  as_root mv "$cache/apt-proxy.conf.new" "$cache/apt-proxy.conf"
fi
say "Ready"
