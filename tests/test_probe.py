"""The plan's one round trip (module flask_nginx_probe): every question the role asks of a
host, answered in one module run. Run for real with ansible-playbook (local connection)
on this machine's files, packages and accounts; an absent thing is an answer, never an
error. (Its systemd answers are checked on real systemd hosts, in the default scenario.)"""
import os
import subprocess
import sys
import time

from conftest import role_module, run_local_play

module = role_module("flask_nginx_probe")

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Probe
      flask_nginx_probe:
        packages: [dpkg, flask-nginx-no-such-package]
        paths:
          file: "{{ out }}/file.txt"
          dir: "{{ out }}/releases"
          link: "{{ out }}/current"
          absent: "{{ out }}/nothing"
        files:
          file: "{{ out }}/file.txt"
          absent: "{{ out }}/nothing"
        dirs:
          releases: "{{ out }}/releases"
          absent: "{{ out }}/nothing"
        globs:
          units: ["{{ out }}/releases/*/*.service", "{{ out }}/*.timer"]
          none: ["{{ out }}/*.nothing"]
        users: [root, flask-nginx-no-such-user]
        groups: [root, flask-nginx-no-such-group]
      register: probe
      check_mode: "{{ check | default(false) | bool }}"
    - name: Report
      ansible.builtin.copy:
        content: "{{ probe | to_json }}"
        dest: "{{ out }}/report.json"
        mode: "0644"
      check_mode: false
"""


def probe(tmp_path, *args):
    return run_local_play(tmp_path, PLAYBOOK, *args)


def layout(tmp_path):
    (tmp_path / "file.txt").write_text("abc123\n")
    (tmp_path / "releases" / ".tmp-build").mkdir(parents=True)  # hidden: not a release
    for release in ("r1", "r2"):
        (tmp_path / "releases" / release).mkdir(parents=True)
    (tmp_path / "releases" / "r2" / "app-worker@1.service").write_text("")
    (tmp_path / "releases" / "stray.txt").write_text("")
    (tmp_path / "job.timer").symlink_to(tmp_path / "gone")  # a broken link still matches
    (tmp_path / "current").symlink_to("releases/r2")  # relative, as a user might have made it


def test_every_answer_comes_back_under_its_name(tmp_path):
    layout(tmp_path)
    answer = probe(tmp_path)
    assert answer["changed"] is False
    assert answer["packages"]["dpkg"] and answer["packages"]["flask-nginx-no-such-package"] == ""
    paths = answer["paths"]
    assert paths["file"]["type"] == "file" and paths["dir"]["type"] == "directory"
    assert paths["link"] == {"path": f"{tmp_path}/current", "type": "link", "target": "releases/r2",
                             "realpath": f"{tmp_path}/releases/r2"}
    assert paths["absent"] == {"path": f"{tmp_path}/nothing", "type": "absent"}
    assert answer["files"] == {"file": "abc123\n", "absent": None}
    releases = answer["dirs"]["releases"]
    assert [r["path"] for r in releases] == [f"{tmp_path}/releases/r1", f"{tmp_path}/releases/r2"]
    assert all(isinstance(r["mtime"], float) for r in releases)
    assert answer["dirs"]["absent"] == []
    assert answer["globs"] == {"units": [f"{tmp_path}/job.timer", f"{tmp_path}/releases/r2/app-worker@1.service"],
                               "none": []}
    assert answer["users"]["root"] == {"exists": True, "home": "/root", "shell": answer["users"]["root"]["shell"],
                                       "group": "root"}
    assert answer["users"]["flask-nginx-no-such-user"] == {"exists": False}
    assert answer["groups"] == {"root": True, "flask-nginx-no-such-group": False}


def test_it_answers_in_check_mode_and_changes_nothing(tmp_path):
    layout(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    answer = probe(tmp_path, "--check", "-e", "check=true")
    assert answer["paths"]["link"]["target"] == "releases/r2" and answer["packages"]["dpkg"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.name not in ("report.json", "play.yml")) == \
        [n for n in before if n != "play.yml"]


class FakeSystemctl:
    """Stands in for AnsibleModule.run_command only to feed units_of a recorded `systemctl
    show` answer (the parsing); real systemd answers are checked in the default scenario."""

    def __init__(self, stdout, rc=0):
        self.stdout, self.rc, self.argv = stdout, rc, None

    def run_command(self, argv, environ_update=None):
        self.argv = argv
        return self.rc, self.stdout, ""


def test_units_are_read_in_the_order_asked_with_file_and_active_state(monkeypatch):
    monkeypatch.setattr(module.os.path, "isdir", lambda path: path == "/run/systemd/system")
    recorded = ("Id=nginx.service\nActiveState=active\nUnitFileState=enabled\n\n"
                "Id=gunicorn-shop.socket\nActiveState=failed\nUnitFileState=disabled\n\n"
                "Id=nothing.service\nActiveState=inactive\nUnitFileState=\n")
    fake = FakeSystemctl(recorded)
    units = module.units_of(fake, ["nginx.service", "gunicorn-shop.socket", "nothing.service"])
    assert fake.argv[:3] == ["systemctl", "show", "--property=Id,UnitFileState,ActiveState,MainPID"]
    assert units == {"nginx.service": {"enabled": "enabled", "active": "active"},
                     "gunicorn-shop.socket": {"enabled": "disabled", "active": "failed"},
                     "nothing.service": {"enabled": "", "active": "inactive"}}
    # An answer missing for a unit leaves it "not known to run", never a neighbour's state.
    partial = FakeSystemctl("Id=gunicorn-shop.socket\nActiveState=active\nUnitFileState=enabled\n")
    assert module.units_of(partial, ["nginx.service", "gunicorn-shop.socket"]) == {
        "nginx.service": {"enabled": "", "active": "inactive"},
        "gunicorn-shop.socket": {"enabled": "enabled", "active": "active"}}
    # systemctl failing (no bus) is "not known to run": the role then runs its start tasks.
    assert module.units_of(FakeSystemctl("", rc=1), ["nginx.service"]) == {
        "nginx.service": {"enabled": "", "active": "inactive"}}


def test_a_file_is_read_only_as_a_regular_file_never_through_a_link_or_a_fifo(tmp_path):
    """Root never follows a link that someone else may have made, and never waits on a FIFO:
    either answers "cannot be read" at once."""
    secret = tmp_path / "root-only"
    secret.write_text("root-only-Canary\n")
    (tmp_path / "link").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo")
    assert module.read_text(str(secret)) == "root-only-Canary\n"
    assert module.read_text(str(tmp_path / "link")) is None
    # In a child process, so that a read that waits fails the test instead of hanging it.
    read = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
                           " import flask_nginx_probe as p; print(p.read_text(sys.argv[2]))",
                           os.path.dirname(module.__file__), str(tmp_path / "fifo")],
                          capture_output=True, text=True, timeout=20, check=True)
    assert read.stdout.strip() == "None"


def test_a_unit_is_fresh_when_its_newest_process_started_after_current_changed(tmp_path):
    """Real processes: a main process and its child (Gunicorn's master and a worker); the
    newest start time against the link's change time, from the kernel."""
    link = tmp_path / "current"
    link.symlink_to("releases/r1")
    time.sleep(0.05)
    main = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        time.sleep(0.3)
        assert module.fresh(main.pid, os.lstat(link).st_mtime) is True
        link.unlink()
        link.symlink_to("releases/r2")  # a switch after both started
        assert module.fresh(main.pid, os.lstat(link).st_mtime) is False
        assert module.fresh(0, os.lstat(link).st_mtime) is None  # no process
    finally:
        main.kill()
        main.wait()
