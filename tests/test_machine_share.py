"""The quiet lock of the suite (molecule/shared/machine_share.py, scripts/test.sh's
shared): a quiet test waits for every shared holder, and while it waits or runs
no shared holder starts, in Python and in the shell alike."""
import os
import subprocess
import threading
import time

import pytest

import machine_share


@pytest.fixture
def lock(tmp_path, monkeypatch):
    path = str(tmp_path / "quiet.lock")
    monkeypatch.setattr(machine_share, "LOCK", path)
    return path


def in_thread(quiet):
    """machine(quiet) taken in a thread; returns (got, release): got is set once it
    holds the machine, and release lets it go."""
    got, release = threading.Event(), threading.Event()

    def hold():
        with machine_share.machine(quiet):
            got.set()
            release.wait(10)
    threading.Thread(target=hold, daemon=True).start()
    return got, release


def test_shared_holders_share_and_a_quiet_test_waits_for_them(lock):  # pylint: disable=unused-argument
    first, release_first = in_thread(False)
    second, release_second = in_thread(False)
    assert first.wait(5) and second.wait(5), "two shared holders hold the lock at once"
    quiet, release_quiet = in_thread(True)
    assert not quiet.wait(0.5), "the quiet test ran beside shared holders"
    release_first.set()
    assert not quiet.wait(0.3), "the quiet test ran beside a shared holder"
    release_second.set()
    assert quiet.wait(5), "the quiet test never got the machine"
    release_quiet.set()


def test_nothing_starts_while_a_quiet_test_waits_or_runs(lock):  # pylint: disable=unused-argument
    shared, release_shared = in_thread(False)
    assert shared.wait(5)
    quiet, release_quiet = in_thread(True)
    time.sleep(0.3)  # the quiet test now holds the turnstile and waits
    late, release_late = in_thread(False)
    release_shared.set()
    assert quiet.wait(5), "the quiet test was starved"
    assert not late.wait(0.5), "a shared holder started while the quiet test ran"
    release_quiet.set()
    assert late.wait(5)
    release_late.set()


def test_the_shell_side_holds_the_same_lock_and_its_command_does_not_inherit_it(lock, tmp_path):
    """scripts/test.sh's shared(): the quiet test waits for the command; a process the
    command leaves behind does not keep the lock."""
    script = (tmp_path / "shared.sh")
    script.write_text('set -e\n'
                      'eval "$(sed -n \'/^shared() {/,/^}/p\' "$1")"\n'
                      'shared sh -c \'sleep 60 & echo $! > "$1"; read -r _ < "$2"\' _ "$2" "$3"\n')
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    leftover = tmp_path / "leftover.pid"
    shell = subprocess.Popen(["bash", str(script), os.path.join(repo, "scripts", "test.sh"), str(leftover), str(fifo)],
                             env={**os.environ, "FLASK_NGINX_QUIET_LOCK": lock})
    try:
        deadline = time.time() + 5
        while not leftover.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert leftover.exists() and shell.poll() is None, "the shell's command did not start"
        quiet, release_quiet = in_thread(True)
        assert not quiet.wait(0.5), "the quiet test ran beside the shell's command"
        with open(fifo, "w", encoding="utf-8") as go:
            go.write("done\n")
        assert shell.wait(10) == 0
        assert quiet.wait(5), "a process left behind by the command still holds the lock"
        release_quiet.set()
    finally:
        shell.kill()
        if leftover.exists():
            subprocess.run(["kill", leftover.read_text().strip()], check=False)
