"""The machine's two cores, shared on purpose between the lanes of scripts/test.sh.

The suite runs two lanes at once: a scenario verifies while another one sets up
or verifies. A test that judges behaviour under load (no request dropped while
Gunicorn reloads, a canary's error ratio, a rolling deploy under traffic) would
measure the other lane as well. Such a test is marked `quiet`, and it gets the
machine to itself:

- every heavy step holds the machine lock shared while it runs: an
  ansible-playbook run made by a test (flask_nginx_testing.run_playbook), a
  scan or an install of a test's tools (`with shared():`), and each step of
  test.sh (a converge, the lint, the fast tests);
- a quiet test holds it exclusively, from its fixtures' setup to their
  teardown. It waits until the other lane's running step has ended, and no
  heavy step starts until it is done (light checks, a request or a file read,
  go on).

A quiet test takes the turnstile first and keeps it while it waits. Everything
else passes through the turnstile before it takes its share. So a lane that
starts step after step cannot starve a waiting quiet test. The lock files are
FLASK_NGINX_QUIET_LOCK and the same name with ".turnstile" (flock(2), released
by the kernel when a process dies). A scenario run on its own never waits. A
process that holds the machine already (a quiet test's own playbook runs, two
threads of one test) does not take it again.

A test module uses it by importing `pytest_sessionstart` into its conftest.py.
The session's end lists what each quiet test waited for the machine.
"""
import contextlib
import fcntl
import os
import threading
import time

import pytest

LOCK = os.environ.get("FLASK_NGINX_QUIET_LOCK", "/tmp/flask-nginx-quiet.lock")
# This process's hold on the machine: how many users, and whether it holds it alone.
_HOLD = {"users": 0, "quiet": False, "fds": []}
_GUARD = threading.Lock()


def _take(path, mode):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited by the test's subprocesses
    fcntl.flock(fd, mode)
    return fd


@contextlib.contextmanager
def machine(quiet):
    """The machine, shared (quiet=False) or to ourselves (quiet=True); yields a
    dict whose "waited" is the seconds it took to get it."""
    started, got = time.monotonic(), {}
    with _GUARD:
        if _HOLD["users"]:
            assert _HOLD["quiet"] or not quiet, "a quiet test started while this process shared the machine"
        elif quiet:
            _HOLD["fds"] = [_take(LOCK + ".turnstile", fcntl.LOCK_EX), _take(LOCK, fcntl.LOCK_EX)]
        else:
            os.close(_take(LOCK + ".turnstile", fcntl.LOCK_EX))
            _HOLD["fds"] = [_take(LOCK, fcntl.LOCK_SH)]
        if not _HOLD["users"]:
            _HOLD["quiet"] = quiet
        _HOLD["users"] += 1
    got["waited"] = time.monotonic() - started
    try:
        yield got
    finally:
        with _GUARD:
            _HOLD["users"] -= 1
            if not _HOLD["users"]:
                for fd in reversed(_HOLD["fds"]):
                    os.close(fd)
                _HOLD["fds"], _HOLD["quiet"] = [], False


def shared():
    """`with shared():` around a heavy step of a test (it waits while a quiet test runs)."""
    return machine(False)


class MachineShare:
    """The pytest plugin: a test marked quiet runs inside machine(True), its
    fixtures' setup and teardown too."""

    def __init__(self):
        self.waits = []  # (test id, seconds waited, seconds run) of the quiet tests

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):  # pylint: disable=unused-argument
        if item.get_closest_marker("quiet") is None:
            yield
            return
        with machine(True) as got:
            ran = time.monotonic()
            yield
            self.waits.append((item.nodeid, got["waited"], time.monotonic() - ran))

    def pytest_terminal_summary(self, terminalreporter):
        if not self.waits:
            return
        terminalreporter.write_sep("=", "quiet tests (the machine to themselves): waited, ran")
        for nodeid, waited, ran in self.waits:
            terminalreporter.write_line(f"{waited:7.1f}s {ran:7.1f}s  {nodeid}")
        terminalreporter.write_line(f"{sum(w for _, w, _ in self.waits):7.1f}s {sum(r for _, _, r in self.waits):7.1f}s"
                                    f"  in all ({len(self.waits)} tests)")


def pytest_sessionstart(session):
    session.config.addinivalue_line(
        "markers", "quiet: judges behaviour under load; runs with the machine to itself (machine_share.py)")
    session.config.pluginmanager.register(MachineShare(), "flask-nginx-machine-share")
