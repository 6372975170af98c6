"""What a local app ships (files/app_files.py, run on the controller): one choice of files for
the release id and the archive; secrets, local settings, version control and caches left out;
links followed only inside the app; modes that keep private files private; a load balancer's
archive with the static files alone. Real files, a real archive, the real script."""
import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml
from conftest import ROLE

SCRIPT = ROLE / "files" / "app_files.py"
EXCLUDE = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["flask_nginx_app_exclude"]


def run(job, src, *extra, exclude=EXCLUDE):
    """The script's answer; `pack` is given the id that `id` gives first, as the role does."""
    if job == "pack":
        extra = (run("id", src, exclude=exclude), *extra)
    out = subprocess.run([sys.executable, str(SCRIPT), job, str(src), json.dumps(exclude), *extra],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def members(archive):
    with tarfile.open(archive) as tar:
        return {m.name: (m.mode, m.uid, m.gid, m.type) for m in tar.getmembers()}


@pytest.fixture
def app(tmp_path):
    src = tmp_path / "app"
    (src / "static" / "css").mkdir(parents=True)
    (src / "static" / "css" / "site.css").write_text("body{}\n")
    (src / "app.py").write_text("print('app')\n")
    (src / "requirements.txt").write_text("flask\n")
    (src / "tools").mkdir()
    (src / "tools" / "run.sh").write_text("#!/bin/sh\n")
    (src / "tools" / "run.sh").chmod(0o750)
    (src / "tools" / "notes.txt").write_text("private\n")
    (src / "tools" / "notes.txt").chmod(0o600)
    for secret in (".env", ".env.production", "instance/config.py", ".git/HEAD", "pkg/__pycache__/m.cpython-311.pyc",
                   "stray.pyc", ".venv/bin/python", "venv/lib/x.py"):
        (src / secret).parent.mkdir(parents=True, exist_ok=True)
        (src / secret).write_text("secret\n")
    (src / "pkg" / "instance").mkdir()  # not the top-level instance folder: it goes
    (src / "pkg" / "instance" / "model.py").write_text("x = 1\n")
    (src / "shared").symlink_to("tools")  # a link inside the app: followed
    return src


def test_secrets_local_settings_vcs_and_caches_stay_behind(app):
    archive = run("pack", app)
    try:
        names = set(members(archive))
    finally:
        os.unlink(archive)
    assert {"app.py", "requirements.txt", "static/css/site.css", "tools/run.sh", "tools/notes.txt",
            "pkg/instance/model.py", "shared/run.sh"} <= names
    leaked = {n for n in names if n.split("/")[0] in (".env", ".env.production", "instance", ".git", ".venv", "venv")
              or n.endswith(".pyc") or "__pycache__" in n}
    assert not leaked, leaked


def test_everything_belongs_to_root_and_private_files_stay_private(app):
    archive = run("pack", app)
    try:
        found = members(archive)
    finally:
        os.unlink(archive)
    assert all(uid == 0 and gid == 0 for _mode, uid, gid, _type in found.values())
    assert found["app.py"][0] == 0o644
    assert found["tools/notes.txt"][0] == 0o640  # the app's group reads it, nobody else
    assert found["tools/run.sh"][0] == 0o750
    assert found["static/css/site.css"][0] == 0o644  # Nginx may serve it
    assert found["tools"][0] == 0o755 and found["tools"][3] == tarfile.DIRTYPE


def test_the_archive_is_private_to_the_controllers_user(app):
    archive = run("pack", app)
    try:
        assert os.stat(archive).st_mode & 0o777 == 0o600
    finally:
        os.unlink(archive)


def test_a_load_balancer_gets_the_static_files_alone(app):
    archive = run("pack", app, "static")
    try:
        names = set(members(archive))
    finally:
        os.unlink(archive)
    assert names == {"static", "static/css", "static/css/site.css"}
    # No static directory, or none in the app: a directory alone, empty (an empty archive
    # could not be unpacked on the load balancer).
    for static, only in (("", "."), ("assets", "assets")):
        archive = run("pack", app, static)
        try:
            assert list(members(archive)) == [only]
        finally:
            os.unlink(archive)


def test_one_id_means_one_content_and_what_is_left_out_does_not_count(app):
    first = run("id", app)
    assert len(first) == 12 and int(first, 16) >= 0
    assert run("id", app) == first
    (app / ".env").write_text("SECRET_KEY=another\n")  # left out: same release
    assert run("id", app) == first
    (app / "tools" / "notes.txt").chmod(0o644)  # a mode is content too
    assert run("id", app) != first
    (app / "tools" / "notes.txt").chmod(0o600)
    assert run("id", app) == first
    (app / "app.py").write_text("print('v2')\n")
    assert run("id", app) != first


@pytest.mark.parametrize(("make", "said"), [
    (lambda app: (app / "key").symlink_to(os.path.expanduser("~")), "is a link out of the app's directory"),
    (lambda app: (app / "gone").symlink_to(app / "nothing"), "is a link to nothing"),
    (lambda app: (app / "tools" / "loop").symlink_to(app), "a link loop"),
], ids=["link-out", "dangling", "link-to-the-root"])
def test_a_link_out_of_the_app_is_refused_naming_the_variable(app, make, said):
    make(app)
    answer = run("id", app)
    assert answer.startswith(f"flask_nginx_app_src = {json.dumps(str(app))} is refused: ")
    assert said in answer


def test_anchored_patterns_match_from_the_apps_directory_only(app):
    archive = run("pack", app, exclude=["/tools/*.txt"])
    try:
        names = set(members(archive))
    finally:
        os.unlink(archive)
    assert "tools/notes.txt" not in names and "shared/notes.txt" in names and "tools/run.sh" in names


def test_code_that_changed_since_its_id_was_taken_is_not_shipped(app, tmp_path, monkeypatch):
    """The id the plan took, then an edit (an editor, a CI checkout) before the pack: nothing is
    shipped under the old id, and the answer says why."""
    planned = run("id", app)
    (app / "app.py").write_text("print('edited meanwhile')\n")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = set(tmp_path.iterdir())
    out = subprocess.run([sys.executable, str(SCRIPT), "pack", str(app), json.dumps(EXCLUDE), planned],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0
    assert out.stdout.startswith(f"flask_nginx_app_src = {json.dumps(str(app))} changed during this run: "
                                 f"release {planned} was planned"), out.stdout
    assert set(tmp_path.iterdir()) == before  # no archive left behind
