"""The machine's two cores, shared on purpose between the lanes of scripts/test.sh.

The suite runs two lanes at once: a scenario verifies while another one sets up
or verifies. A test that judges behaviour under load (no request dropped while
Gunicorn reloads, a canary's error ratio, a rolling deploy under traffic) would
measure the other lane as well. Such a test is marked `quiet`, and it gets the
machine to itself:

- every other test, and every heavy step of test.sh (a converge, the lint, the
  fast tests), holds the machine lock shared while it runs;
- a quiet test holds it exclusively. It waits until the other lane's running
  test or step has ended, and nothing else starts until it is done.

A quiet test takes the turnstile first and keeps it while it waits. Everything
else passes through the turnstile before it takes its share. So a lane that
starts test after test cannot starve a waiting quiet test. The lock files are
FLASK_NGINX_QUIET_LOCK and the same name with ".turnstile" (flock(2), released
by the kernel when a process dies). A scenario run on its own never waits.

A test module uses it by importing `pytest_sessionstart` into its conftest.py.
The session's end lists what each quiet test waited for the machine.
"""
import contextlib
import fcntl
import os
import time

import pytest

LOCK = os.environ.get("FLASK_NGINX_QUIET_LOCK", "/tmp/flask-nginx-quiet.lock")


@contextlib.contextmanager
def _flock(path, mode):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited by the test's subprocesses
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def machine(quiet):
    """The machine, shared (quiet=False) or to ourselves (quiet=True); yields a
    dict whose "waited" is the seconds it took to get it."""
    started, got = time.monotonic(), {}
    if quiet:
        with _flock(LOCK + ".turnstile", fcntl.LOCK_EX), _flock(LOCK, fcntl.LOCK_EX):
            got["waited"] = time.monotonic() - started
            yield got
        return
    with _flock(LOCK + ".turnstile", fcntl.LOCK_EX):
        pass
    with _flock(LOCK, fcntl.LOCK_SH):
        got["waited"] = time.monotonic() - started
        yield got


class MachineShare:
    """The pytest plugin: each test (its fixtures' setup and teardown too) runs
    inside machine(quiet), quiet when it is marked so."""

    def __init__(self):
        self.waits = []  # (test id, seconds waited, seconds run) of the quiet tests

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):  # pylint: disable=unused-argument
        quiet = item.get_closest_marker("quiet") is not None
        with machine(quiet) as got:
            ran = time.monotonic()
            yield
            if quiet:
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
