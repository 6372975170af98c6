"""files/fleet_wheels.py, the build host's side of one build for the fleet, run here as the role
runs it there: sets made once, an archive of their wheels alone, a release not built refused."""
import json
import subprocess
import sys
import tarfile

from conftest import ROLE

SCRIPT = ROLE / "files" / "fleet_wheels.py"


def run(build, archive, sets):
    return subprocess.run([sys.executable, str(SCRIPT), str(build), str(archive), json.dumps(sets)],
                          capture_output=True, text=True, timeout=300)


def test_a_complete_set_is_not_made_again_and_the_archive_holds_its_wheels_alone(tmp_path):
    build = tmp_path / "build"
    done = build / "gunicorn-abc"
    done.mkdir(parents=True)
    (done / ".complete").write_text("")
    (done / "gunicorn-27.0.1-py3-none-any.whl").write_bytes(b"wheel")
    (done / "notes.txt").write_text("not a wheel")
    # A "wheel" set with no package could only be made by pip: it is complete, so nothing runs.
    result = run(build, build / ".to-app3.tar", [{"name": "gunicorn-abc", "kind": "wheel", "packages": []}])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"changed": False, "built": [], "wheels": 1}
    with tarfile.open(build / ".to-app3.tar") as tar:
        assert tar.getnames() == ["gunicorn-27.0.1-py3-none-any.whl"]
        assert tar.extractfile("gunicorn-27.0.1-py3-none-any.whl").read() == b"wheel"
    assert (build / ".to-app3.tar").stat().st_mode & 0o777 == 0o600


def test_a_release_whose_code_the_build_host_lacks_is_refused_naming_it_and_leaves_no_set(tmp_path):
    build, release = tmp_path / "build", tmp_path / "releases" / "abc123"
    release.mkdir(parents=True)
    sets = [{"name": "release-abc123-requirements", "kind": "release", "release": "abc123", "app": str(release / "app"),
             "install": "requirements", "requirements": "requirements.txt", "uv": "uv"}]
    result = run(build, build / ".to-app3.tar", sets)
    assert result.returncode == 1
    assert "release abc123 has no code on this host" in result.stderr and "flask_nginx_build_host" in result.stderr
    assert sorted(p.name for p in build.iterdir() if not p.name.startswith(".pip")) == [".lock"]
    assert not (build / ".to-app3.tar").exists()


def test_the_sets_of_releases_the_build_host_no_longer_keeps_go(tmp_path):
    build, releases = tmp_path / "build", tmp_path / "releases"
    (releases / "bbb222" / "app").mkdir(parents=True)
    (releases / "bbb222" / "app" / "app.py").write_text("")
    for name in ("release-aaa111-requirements", "release-bbb222-requirements", "gunicorn-abc"):
        (build / name).mkdir(parents=True)
        (build / name / ".complete").write_text("")
    sets = [{"name": "release-bbb222-requirements", "kind": "release", "release": "bbb222",
             "app": str(releases / "bbb222" / "app"), "install": "requirements", "requirements": "r.txt", "uv": "uv"}]
    result = run(build, build / ".to-app3.tar", sets)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in build.iterdir() if not p.name.startswith(".")) == [
        "gunicorn-abc", "release-bbb222-requirements"]
