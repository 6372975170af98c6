"""Helpers shared by the testinfra tests of the default scenario."""
import json
import os
import re
import shlex
import subprocess

import pytest

APP = "shop"
SERVER_NAME = "shop.test"
UNIT = f"gunicorn-{APP}"


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


@pytest.fixture
def http(host):
    return Http(host)


def converge(*extra_args, playbook=None):
    """Run the scenario's converge playbook (or another playbook) against the hosts."""
    scenario = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
    playbook = playbook or os.path.join(scenario, "converge.yml")
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook, *extra_args],
        capture_output=True, text=True, check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )


def output(result):
    return result.stdout + result.stderr


def recap(result, name):
    match = re.search(rf"^{re.escape(name)}\s*:.*$", result.stdout, re.M)
    assert match, output(result)[-3000:]
    return match.group(0)


@pytest.fixture(scope="session")
def sample_app():
    return os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "files", "sample_app")


# 8 clients requesting /api/info through Nginx for a bounded time, inside the
# host (127.0.0.1); prints "ok failed".
LOAD = r"""
import http.client, sys, threading, time
deadline = time.time() + float(sys.argv[1]); ok = failed = 0; lock = threading.Lock()
def run():
    global ok, failed
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", 80, timeout=10)
            c.request("GET", "/api/info", headers={"Host": "%s"}); good = c.getresponse().status == 200; c.close()
        except Exception:
            good = False
        with lock:
            ok, failed = (ok + 1, failed) if good else (ok, failed + 1)
threads = [threading.Thread(target=run) for _ in range(8)]; [t.start() for t in threads]; [t.join() for t in threads]
print(ok, failed)
""" % SERVER_NAME


def start_load(host, seconds, name):
    """Start the load in the background on HOST; returns a function that reads (ok, failed)."""
    host.run_expect([0], f"cat > /tmp/{name}.py <<'EOF'\n{LOAD}\nEOF")
    host.run_expect([0], f"nohup python3 /tmp/{name}.py {seconds} > /tmp/{name}.out 2>&1 &")
    return lambda: tuple(map(int, host.check_output(f"cat /tmp/{name}.out").split()))
