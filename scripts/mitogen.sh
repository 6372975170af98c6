#!/usr/bin/env bash
# Opt-in accelerator: run an Ansible command with Mitogen for Ansible
# (PyPI `mitogen`, pinned in requirements-dev.txt; checked with ansible-core 2.19).
#   scripts/mitogen.sh ansible-playbook -i INVENTORY playbooks/site.yml
#   scripts/mitogen.sh --env        print the settings (NAME=VALUE lines)
# Mitogen replaces the connection plugins it knows by their short names only:
# `ssh` (the default) and `docker`, not `community.docker.docker`; give such
# hosts `-e ansible_connection=docker`. Nothing else changes: the same tasks,
# checks and handlers run. Without this script Ansible runs as usual.
# With ansible-core 2.19, Mitogen fails on interpreter discovery ("EOF on
# stream" with interpreter_python=auto_silent), so the interpreter is named:
# /usr/bin/python3, the role's Debian 12/13 (an inventory's own setting wins).
# Use it on hosts the role has provisioned once: on a fresh host the apt
# module's own install of python3-apt fails under Mitogen 0.3.54 ("Could not
# import the python3-apt module" right after installing it).
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
plugins=$("$python" -c 'import ansible_mitogen.plugins.strategy as s, os; print(os.path.dirname(s.__file__))' 2>/dev/null) || {
  echo "mitogen is not installed (make bootstrap installs requirements-dev.txt)" >&2
  exit 1
}
interpreter=${ANSIBLE_PYTHON_INTERPRETER:-/usr/bin/python3}
if [ "${1:-}" = "--env" ]; then
  echo "ANSIBLE_STRATEGY_PLUGINS=$plugins"
  echo "ANSIBLE_STRATEGY=mitogen_linear"
  echo "ANSIBLE_PYTHON_INTERPRETER=$interpreter"
  exit 0
fi
cd - >/dev/null
ANSIBLE_STRATEGY_PLUGINS=$plugins ANSIBLE_STRATEGY=mitogen_linear ANSIBLE_PYTHON_INTERPRETER=$interpreter exec "$@"
