"""Test support shared by the testinfra tests of every Molecule scenario.

Each scenario's tests/conftest.py puts this directory on sys.path and imports
the fixture below (which makes pytest use it); test modules import the helpers.

- tools_on_every_host (autouse, once per session): the test images carry only
  what Ansible needs, and the role installs only what it uses; the tests need
  more (curl, ps, pgrep, ip, ss, openssl). They are installed at verify time,
  after converge and idempotence ran on the bare image, so that no missing
  package of the role is hidden; a prepare step would hide it.
- run_playbook / converge / output: run a playbook from a test against the
  scenario's hosts (sharing the machine: it waits while another lane's quiet
  test runs, machine_share.py), show the end of its output in assertion messages.
- start_load: the load generator (http_load.py) inside a host; tests on the
  controller use http_load.Load directly.
"""
import json
import os
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import testinfra

from machine_share import shared
from playbook_times import timed_run

HERE = Path(__file__).resolve().parent

# Command the tests use -> Debian package that has it.
TEST_TOOLS = {"curl": "curl", "ps": "procps", "pgrep": "procps", "ip": "iproute2", "ss": "iproute2",
              "openssl": "openssl"}
INSTALL_TOOLS = r"""
missing=$(for pair in {pairs}; do command -v "${{pair%%=*}}" >/dev/null || echo "${{pair#*=}}"; done | sort -u)
[ -n "$missing" ] || exit 0
export DEBIAN_FRONTEND=noninteractive
install() {{ apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 $missing >/dev/null; }}
if ! ls /var/lib/apt/lists/ | grep -q '_Packages$'; then apt-get update -qq; fi
install || {{ apt-get update -qq && install; }}
echo installed $missing
"""


def inventory():
    return os.environ["MOLECULE_INVENTORY_FILE"]


def remote(name):
    """A host of the scenario other than the tests' own (testinfra_hosts), by inventory name."""
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory())


def install_test_tools(host):
    """Install the packages of the missing TEST_TOOLS on HOST; returns what it says."""
    pairs = " ".join(f"{command}={package}" for command, package in TEST_TOOLS.items())
    result = host.run(INSTALL_TOOLS.format(pairs=pairs))
    assert result.rc == 0, f"installing the test tools failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout.strip()


@pytest.fixture(scope="session", autouse=True)
def tools_on_every_host():
    """Every host of the scenario (the Pebble CA and cluster hosts too) has the test tools."""
    hosts = testinfra.get_hosts(["ansible://all"], ansible_inventory=inventory())
    with shared(), ThreadPoolExecutor(max_workers=len(hosts) or 1) as pool:
        for host, said in zip(hosts, pool.map(install_test_tools, hosts)):
            if said:
                print(f"{host.backend.get_hostname()}: {said}")


def run_playbook(playbook, *args, env=None, inventory_file=None):
    """ansible-playbook PLAYBOOK ARGS... against the scenario's hosts (Molecule's
    inventory, or INVENTORY_FILE), without colours; returns the CompletedProcess,
    whatever its return code. ENV adds to the environment (e.g. ANSIBLE_DISPLAY_OK_HOSTS)."""
    with shared():  # not beside a quiet test (machine_share.py)
        return timed_run(
            " ".join(["ansible-playbook", os.path.basename(str(playbook)), *args])[:160],
            ["ansible-playbook", "-i", str(inventory_file or inventory()), str(playbook), *args],
            capture_output=True, text=True, check=False,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **(env or {})},
        )


def scenario_file(name):
    return os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], name)


def project_file(*parts):
    return os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], *parts)


def converge(*args, env=None):
    """The scenario's converge.yml again, with ARGS (e.g. "-e", ..., "--limit", ...)."""
    return run_playbook(scenario_file("converge.yml"), *args, env=env)


def output(result, tail=4000):
    """stdout and stderr of a run: the last TAIL characters (for an assertion
    message), or all of it with tail=None (to look for a text)."""
    text = result.stdout + result.stderr
    return text if tail is None else text[-tail:]


def start_load(host, seconds, name, server_name="shop.test", clients=8, wait=60):
    """The load (http_load.py: CLIENTS clients on /api/info, a new connection per
    request) in the background inside HOST against its Nginx on 127.0.0.1:80,
    for SECONDS; returns a function that waits until it is over and reads (ok, failed).
    It prints its result when its last request has ended, which on a busy host can be
    seconds after SECONDS (a request may take up to 10 s): up to WAIT s more are allowed."""
    script = (HERE / "http_load.py").read_text()
    host.run_expect([0], f"cat > /tmp/{name}.py <<'EOF'\n{script}\nEOF")
    args = shlex.join(["--seconds", str(seconds), "--port", "80", "--server-name", server_name,
                       "--clients", str(clients)])
    host.run_expect([0], f"nohup python3 /tmp/{name}.py {args} > /tmp/{name}.out 2>&1 &")
    deadline = time.time() + seconds + wait

    def results():
        while True:
            out = host.check_output(f"cat /tmp/{name}.out")
            try:
                result = json.loads(out)
                results.result = result  # all of it, e.g. what the failed requests got (errors)
                return result["ok"], result["failed"]
            except ValueError:
                assert time.time() < deadline, f"the load {name} gave no result in time: {out[-2000:]}"
                time.sleep(0.5)
    return results
