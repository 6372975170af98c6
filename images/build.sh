#!/usr/bin/env bash
# Build a local Debian test image with systemd as PID 1 (no registry needed).
#   images/build.sh bookworm|trixie [tag]
# The image trusts the controller's extra CA certificates (an intercepting proxy
# in front of PyPI is common in corporate networks and on CI machines).
set -euo pipefail
suite=${1:?usage: build.sh SUITE [TAG]}
tag=${2:-flask-nginx-test:${suite}}
mirror=${FLASK_NGINX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
# Rebuild only when this script changes: the label holds its checksum.
sum=$(sha256sum "$0" | cut -c1-16)
if [ "$(docker image inspect -f '{{ index .Config.Labels "flask-nginx.build" }}' "$tag" 2>/dev/null)" = "$sum" ]; then
  echo "image $tag is up to date"; exit 0
fi
root=$(mktemp -d /var/tmp/flask-nginx-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --components=main \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,procps,curl,sudo \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -30 "$root.log"; exit 1; }
rm -f "$root.log"
# Extra CA certificates of the controller (e.g. an intercepting proxy).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
# A container is no machine: skip units that cannot work in one.
for unit in systemd-networkd-wait-online.service getty@tty1.service \
  systemd-timesyncd.service systemd-firstboot.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
: >"$root/etc/machine-id"
tar -C "$root" -c . | docker import \
  -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' -c "LABEL flask-nginx.build=$sum" \
  - "$tag" >/dev/null
echo "built $tag"
