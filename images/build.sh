#!/usr/bin/env bash
# Build a local Debian test image with systemd as PID 1 (no registry needed).
#   images/build.sh bookworm|trixie [tag]
# Only what Ansible itself needs (systemd, dbus, python3, sudo): the role must
# install everything else it uses, as on Docker's Debian images, cloud "minimal"
# images or LXC. The controller's extra CA certificates (an intercepting proxy in
# front of PyPI is common in corporate networks and on CI machines) are placed in
# /usr/local/share/ca-certificates, where the role's ca-certificates picks them up.
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
  --include=systemd,systemd-sysv,dbus,python3,sudo \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -30 "$root.log"; exit 1; }
rm -f "$root.log"
# Extra CA certificates of the controller (e.g. an intercepting proxy).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
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
