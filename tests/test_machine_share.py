"""The quiet lock of the suite (molecule/shared/machine_share.py, scripts/test.sh's
shared): a quiet test waits for every shared holder, and while it waits or runs
no shared holder starts, in Python and in the shell alike; inside one process the
machine is taken once."""
import os
import subprocess
import sys
import threading
import time

import pytest

import machine_share

SHARE = os.path.dirname(machine_share.__file__)
HOLDER = """
import sys
sys.path.insert(0, sys.argv[1])
import machine_share
with machine_share.machine(sys.argv[2] == "quiet"):
    print("got", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def lock(tmp_path):
    return str(tmp_path / "quiet.lock")


class Holder:
    """A process that takes the machine (quiet or shared) and holds it until released."""

    def __init__(self, lock, kind):
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, SHARE, kind], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True,
                                        env={**os.environ, "FLASK_NGINX_QUIET_LOCK": lock})
        self.got = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        if self.process.stdout.readline().strip() == "got":
            self.got.set()

    def release(self):
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.wait(10) == 0


def test_shared_holders_share_and_a_quiet_test_waits_for_them(lock):
    first, second = Holder(lock, "shared"), Holder(lock, "shared")
    assert first.got.wait(10) and second.got.wait(10), "two shared holders hold the lock at once"
    quiet = Holder(lock, "quiet")
    assert not quiet.got.wait(0.5), "the quiet test ran beside shared holders"
    first.release()
    assert not quiet.got.wait(0.3), "the quiet test ran beside a shared holder"
    second.release()
    assert quiet.got.wait(10), "the quiet test never got the machine"
    quiet.release()


def test_nothing_starts_while_a_quiet_test_waits_or_runs(lock):
    shared = Holder(lock, "shared")
    assert shared.got.wait(10)
    quiet = Holder(lock, "quiet")
    time.sleep(0.5)  # the quiet test now holds the turnstile and waits
    late = Holder(lock, "shared")
    shared.release()
    assert quiet.got.wait(10), "the quiet test was starved"
    assert not late.got.wait(0.5), "a shared holder started while the quiet test ran"
    quiet.release()
    assert late.got.wait(10)
    late.release()


def test_a_process_that_holds_the_machine_does_not_take_it_again(lock, monkeypatch):
    """A quiet test's own playbook runs (in its thread or another one) share its hold."""
    monkeypatch.setattr(machine_share, "LOCK", lock)
    with machine_share.machine(True):
        done = threading.Event()

        def nested():
            with machine_share.shared():
                done.set()
        threading.Thread(target=nested, daemon=True).start()
        assert done.wait(5), "a playbook run of the quiet test waited for the quiet test"
        other = Holder(lock, "shared")
        assert not other.got.wait(0.5), "another process shared the machine with a quiet test"
    assert other.got.wait(10), "the machine was not given back"
    other.release()


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
        quiet = Holder(lock, "quiet")
        assert not quiet.got.wait(0.5), "the quiet test ran beside the shell's command"
        with open(fifo, "w", encoding="utf-8") as go:
            go.write("done\n")
        assert shell.wait(10) == 0
        assert quiet.got.wait(10), "a process left behind by the command still holds the lock"
        quiet.release()
    finally:
        shell.kill()
        if leftover.exists():
            subprocess.run(["kill", leftover.read_text().strip()], check=False)
