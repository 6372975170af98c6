#!/usr/bin/env bash
# Run the whole test suite (what CI runs), or one part of it:
#   scripts/test.sh                 lint, fast tests, every Molecule scenario
#   scripts/test.sh lint|unit
#   scripts/test.sh molecule [SCENARIO...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
if [ -z "${FLASK_NGINX_PIP_CA_BUNDLE:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export FLASK_NGINX_PIP_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi
# Scenarios in the order they build on each other; never two at once (2 cores).
all_scenarios=(default tls cluster)

part=${1:-all}
[ $# -gt 0 ] && shift
started=$(date +%s)
timing() { echo "--- $1 took $(( $(date +%s) - $2 ))s"; }

run_lint() {
  local t; t=$(date +%s)
  echo "==> yamllint"; yamllint --strict .
  echo "==> ansible-lint (production profile)"; ansible-lint --profile production
  timing lint "$t"
}
run_unit() {
  local t; t=$(date +%s)
  echo "==> fast tests (pytest, no containers)"
  pytest -q tests
  timing "fast tests" "$t"
}
run_molecule() {
  local scenarios=("$@") s t
  [ ${#scenarios[@]} -gt 0 ] || scenarios=("${all_scenarios[@]}")
  for s in "${scenarios[@]}"; do
    t=$(date +%s)
    echo "==> molecule test -s $s"
    molecule test -s "$s"
    timing "molecule $s" "$t"
  done
}

case "$part" in
  all) run_lint; run_unit; run_molecule ;;
  lint) run_lint ;;
  unit) run_unit ;;
  molecule) run_molecule "$@" ;;
  *) echo "usage: $0 [all|lint|unit|molecule [SCENARIO...]]" >&2; exit 2 ;;
esac
timing total "$started"
