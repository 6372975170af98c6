"""Helpers shared by the testinfra tests of the default scenario; those of
every scenario are in molecule/shared/flask_nginx_testing.py."""
import json
import os
import shlex
import sys
import time

import pytest

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")))
from flask_nginx_testing import tools_on_every_host  # noqa: E402,F401  (autouse: the test tools on every host)
from playbook_times import pytest_configure, pytest_terminal_summary  # noqa: E402,F401  (hooks: each run's time)
from machine_share import pytest_sessionstart  # noqa: E402,F401  (hook: quiet tests get the machine)

APP = "shop"
SERVER_NAME = "shop.test"
UNIT = f"gunicorn-{APP}"


# The release a unit's newest process runs (Gunicorn's newest worker, or a worker unit's
# process): the directory above its working directory, RELEASE/app. Read from the kernel
# (this scenario's containers may look inside other users' processes), not from the role.
RELEASE_OF = r"""
import os, sys
def stat(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
main = sys.argv[1]
pids = [p for p in os.listdir("/proc") if p.isdigit() and stat(p)[1] == main] or [main]
newest = max(pids, key=lambda p: int(stat(p)[19]))
print(os.path.basename(os.path.dirname(os.readlink(f"/proc/{newest}/cwd"))))
"""


def release_of(host, unit):
    main = host.check_output(f"systemctl show -p MainPID --value {unit}")
    assert main.isdigit() and main != "0", f"{unit} runs no process"
    return host.check_output(f"python3 -c {shlex.quote(RELEASE_OF)} {main}")


def wait_for(check, seconds=60, until=bool):
    """CHECK() every half second until UNTIL(its value) holds or SECONDS have passed;
    returns its last value, for the caller to assert on (a state that never comes fails)."""
    deadline = time.time() + seconds
    while True:
        value = check()
        if until(value) or time.time() >= deadline:
            return value
        time.sleep(0.5)


def read_journal(host, unit, until, options="-n 200", seconds=30):
    """The messages of UNIT's journal (journalctl OPTIONS), read again until UNTIL(text)
    holds or SECONDS have passed: journald stores what a service logged a little later."""
    return wait_for(lambda: host.check_output(f"journalctl -u {unit} {options} --no-pager -o cat"), seconds, until)


class Http:
    """Real HTTP requests made with curl inside the host, through Nginx on port 80."""

    def __init__(self, host):
        self.host = host

    def request(self, path, *curl_args, host_header=SERVER_NAME, scheme="http", port=None, body=True):
        """curl to 127.0.0.1 under a site's name (Host header and TLS SNI)."""
        port = port or (443 if scheme == "https" else 80)
        args = ["curl", "-sS", "-o", "/dev/stdout" if body else "/dev/null", "-D", "/dev/stderr",
                "--max-time", "10", "--resolve", f"{host_header}:{port}:127.0.0.1",
                *curl_args, f"{scheme}://{host_header}:{port}{path}"]
        return self.host.run(" ".join(shlex.quote(a) for a in args))

    def get(self, path, *curl_args, **kwargs):
        result = self.request(path, *curl_args, **kwargs)
        assert result.rc == 0, f"curl {path} failed: {result.stderr}"
        status = int(result.stderr.split()[1])
        headers = {}
        for line in result.stderr.splitlines()[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        return status, headers, result.stdout

    def json(self, path, *curl_args, **kwargs):
        status, _, body = self.get(path, *curl_args, **kwargs)
        assert status == 200, body
        return json.loads(body)

    def served_version(self, expected, seconds=60):
        """The version /api/info names, asked until it is EXPECTED or SECONDS have passed:
        after a graceful reload (deploy, rollback) old workers still answer for a while."""
        return wait_for(lambda: self.json("/api/info")["version"], seconds, lambda version: version == expected)


@pytest.fixture
def http(host):
    return Http(host)


@pytest.fixture(scope="session")
def app_source():
    """The test app's source (molecule/test_app), to copy into new releases."""
    return os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "test_app")
