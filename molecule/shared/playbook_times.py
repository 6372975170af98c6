"""How long each ansible-playbook run made inside a test took, printed at the end
of the pytest session (both tiers import these hooks from their conftest.py).

`timed_run(label, cmd, **kwargs)` is subprocess.run that records LABEL, the test
that made the run and its time; `pytest_terminal_summary` lists every run, the
slowest first, with their count and total: where a tier's time goes. Runs are
recorded in a file that pytest-xdist's workers share with the controller.
"""
import json
import os
import subprocess
import tempfile
import time

LOG = "FLASK_NGINX_PLAYBOOK_TIMES"


def pytest_configure(config):
    # The controller (or a run without xdist) makes the file; workers inherit the name.
    if not hasattr(config, "workerinput") and not os.environ.get(LOG):
        handle, os.environ[LOG] = tempfile.mkstemp(prefix="flask-nginx-playbook-times-", suffix=".jsonl")
        os.close(handle)


def timed_run(label, cmd, **kwargs):
    started = time.monotonic()
    result = subprocess.run(cmd, **kwargs)
    record = {"seconds": round(time.monotonic() - started, 2), "label": label, "rc": result.returncode,
              "test": os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]}
    if os.environ.get(LOG):
        with open(os.environ[LOG], "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
    return result


def pytest_terminal_summary(terminalreporter):
    path = os.environ.get(LOG)
    if not path or not os.path.exists(path) or hasattr(terminalreporter.config, "workerinput"):
        return
    with open(path, encoding="utf-8") as log:
        runs = sorted((json.loads(line) for line in log if line.strip()), key=lambda r: -r["seconds"])
    os.unlink(path)
    if not runs:
        return
    total = sum(run["seconds"] for run in runs)
    terminalreporter.section(f"ansible-playbook runs inside tests: {len(runs)}, {total:.1f} s in all")
    for run in runs:
        terminalreporter.write_line(f"{run['seconds']:7.1f}s rc={run['rc']} {run['label']}  ({run['test']})")
