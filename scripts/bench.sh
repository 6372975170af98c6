#!/usr/bin/env bash
# Run the benchmark (python -m bench, the package bench/): the role's stack against the alternatives,
# side by side, plus converge times. Writes bench/results.{md,json,png}.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -c 'import matplotlib' 2>/dev/null || .venv/bin/pip install -q matplotlib==3.11.2
if [ -z "${FLASK_NGINX_PIP_CA_BUNDLE:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export FLASK_NGINX_PIP_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi
exec .venv/bin/python -m bench "$@"
