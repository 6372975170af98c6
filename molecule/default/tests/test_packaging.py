"""default scenario: apps as they are packaged (flask_nginx_app_install auto). One app,
"packaged" (molecule/default/packaged.yml), deployed three times from copies of
molecule/default/packaged_app: with pyproject.toml alone, then with its uv.lock (which pins
older versions than pyproject.toml allows), then as a requirements file with a wrong hash."""
import json
import re
import shutil
import tomllib

import pytest
from conftest import Http
from flask_nginx_testing import output, run_playbook, scenario_file

testinfra_hosts = ["ansible://flask-nginx-default-debian12"]
APP, NAME = "packaged", "packaged.test"
# Not Flask 3.1.2's hash (nor anything's).
WRONG_HASH = "sha256:" + "0" * 64



def ran(task, result):
    """TASK ran (changed) in RESULT's output: its header followed by a `changed` line, not
    just its header (skipped tasks show theirs too)."""
    return re.search(re.escape(task) + r"\] \*+\nchanged: ", result.stdout) is not None


def copy_of(tmp_path, name, keep, extra=None):
    source = tmp_path / name
    shutil.copytree(scenario_file("packaged_app"), source,
                    ignore=lambda _d, files: [f for f in files if f not in keep and f != "app.py"])
    for path, text in (extra or {}).items():
        (source / path).write_text(text)
    return str(source)


@pytest.fixture(scope="module")
def packaging_story(host, tmp_path_factory):
    """What each deploy showed: its run, the plan's choice, the release and the versions it serves."""
    http, limit, tmp = Http(host), ("--limit", host.backend.get_hostname()), tmp_path_factory.mktemp("packaged")

    def deploy(source):
        result = run_playbook(scenario_file("packaged.yml"), "-e", json.dumps({"flask_nginx_app_src": source}), *limit)
        status, _, body = http.get("/versions", host_header=NAME)
        return {"result": result, "current": host.file(f"/opt/{APP}/current").linked_to,
                "versions": json.loads(body) if status == 200 else {}}

    return {
        "project": deploy(copy_of(tmp, "project", {"pyproject.toml"})),
        "locked": deploy(copy_of(tmp, "locked", {"pyproject.toml", "uv.lock"})),
        "bad hash": deploy(copy_of(tmp, "hashed", set(), {"requirements.txt": f"Flask==3.1.2 --hash={WRONG_HASH}\n"})),
    }


def locked_versions():
    with open(scenario_file("packaged_app/uv.lock"), "rb") as lock:
        packages = tomllib.load(lock)["package"]
    return {p["name"]: p["version"] for p in packages if "registry" in p["source"]}


def test_a_pyproject_only_app_is_installed_as_a_project(packaging_story):
    """No requirements file, no lock: the project and its dependencies (not editable)."""
    project = packaging_story["project"]
    assert project["result"].returncode == 0, output(project["result"])
    assert ran("Ensure the release's virtualenv has the project of pyproject.toml, with uv", project["result"])
    assert project["versions"]["packaged-app"] == "1.0.0"
    assert project["versions"]["flask"] != locked_versions()["flask"]  # the newest that pyproject.toml allows


def test_a_locked_app_gets_exactly_the_versions_of_its_lock(packaging_story):
    locked = packaging_story["locked"]
    assert locked["result"].returncode == 0, output(locked["result"])
    assert locked["current"] != packaging_story["project"]["current"]
    assert ran("Ensure the release's virtualenv has exactly the versions of uv.lock", locked["result"])
    served = {name: version for name, version in locked["versions"].items() if name in locked_versions()}
    assert served == locked_versions()
    assert locked["versions"]["packaged-app"] == "1.0.0"  # the project itself, built from the release


def test_a_wrong_hash_fails_before_the_switch_naming_the_file_and_package(packaging_story):
    bad, locked = packaging_story["bad hash"], packaging_story["locked"]
    assert bad["result"].returncode != 0, output(bad["result"])
    text = " ".join(output(bad["result"], tail=None).split())
    assert "could not be built; the current release keeps serving" in text, output(bad["result"])
    assert "Its dependencies come from requirements.txt (flask_nginx_app_install: requirements)" in text, output(bad["result"])
    assert "Hash mismatch for `flask==3.1.2`" in text, output(bad["result"])
    assert bad["current"] == locked["current"]
    assert bad["versions"] == locked["versions"]
