"""Shared helpers of the fast tests: no containers, only Ansible and nginx -t on this machine."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
ROLE = REPO / "roles" / "flask_nginx"


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def ansible_playbook(playbook, extra_vars, tmp_dir):
    """Run tests/PLAYBOOK on the implicit localhost with EXTRA_VARS (passed as -e @file).

    The demo inventory is kept out (-i localhost,): its group vars would apply to
    localhost and send the play to a container. The interpreter is pinned to this
    Python: discovery may pick a broken shim.
    """
    vars_file = Path(tmp_dir) / f"{Path(playbook).stem}-vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    bindir = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
        ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
    )
    cmd = [shutil.which("ansible-playbook", path=str(bindir)) or "ansible-playbook",
           "-i", "localhost,", str(TESTS / playbook), "-e", f"@{vars_file}"]
    return subprocess.run(cmd, env=env, cwd=TESTS, capture_output=True, text=True, timeout=120)


def nginx_binary():
    """FLASK_NGINX_NGINX, else the binary scripts/bootstrap.sh unpacks, else nginx on PATH."""
    if os.environ.get("FLASK_NGINX_NGINX"):
        return os.environ["FLASK_NGINX_NGINX"]
    cached = REPO / ".cache" / "nginx" / "usr" / "sbin" / "nginx"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def nginx_version(nginx):
    """The version `nginx -v` reports, e.g. "1.22.1"."""
    result = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=30)
    return re.search(r"nginx/([0-9.]+)", result.stderr).group(1)
