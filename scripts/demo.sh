#!/usr/bin/env bash
# Provision a local demo target and show the sample app answering through Nginx.
#   make demo                       (or scripts/demo.sh)
#   FLASK_NGINX_DEMO_PORT=9090 make demo
#   make demo-clean                 removes the container
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
name=flask-nginx-demo
port=${FLASK_NGINX_DEMO_PORT:-8080}
image=flask-nginx-test:${FLASK_NGINX_DEMO_SUITE:-bookworm}
# Behind an intercepting proxy, pip in the container must trust our CAs.
if [ -z "${FLASK_NGINX_PIP_CA_BUNDLE:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export FLASK_NGINX_PIP_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi

if [ -z "$(docker ps -q --filter "name=^${name}$")" ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  echo "==> Starting the demo host $name (Debian with systemd), port 80 on 127.0.0.1:$port"
  # systemd as PID 1: the flags of images/systemd-container.yml, then the image.
  systemd_run=$(python3 images/systemd_container.py docker-run "$image")
  mapfile -t systemd_run <<<"$systemd_run"
  docker run -d --name "$name" --hostname "$name" -p "127.0.0.1:$port:80" "${systemd_run[@]}" >/dev/null
  for _ in $(seq 30); do
    state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
fi

echo "==> ansible-playbook playbooks/site.yml -i inventories/demo"
ansible-playbook playbooks/site.yml -i inventories/demo

url="http://127.0.0.1:$port/"
echo
echo "The sample app answers through Nginx at: $url"
echo "==> curl ${url}api/info"
curl -fsS "${url}api/info"
echo
