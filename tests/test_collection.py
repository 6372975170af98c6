"""The repository as the collection flask_nginx.flask_nginx: built with ansible-galaxy,
installed offline (no Galaxy, no dependencies fetched) and used from an empty directory
that cannot see this repository's roles/, only the installed collection."""
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO

BIN = Path(sys.executable).parent
FQCN = "flask_nginx.flask_nginx.flask_nginx"
# Development files that must stay out of the tarball (galaxy.yml build_ignore).
DEV_PATHS = (".venv", ".cache", ".ansible", ".config", ".ci", ".git", ".gitignore", ".pytest_cache",
             ".ansible-lint", ".yamllint", "molecule", "tests", "bench", "images", "scripts",
             "inventories", "ansible.cfg", "Makefile", "requirements-dev.txt", "dist")
SHIPPED = ("MANIFEST.json", "FILES.json", "README.md", "LICENSE", "meta/runtime.yml",
           "meta/execution-environment.yml", "requirements.txt", "bindep.txt",
           "playbooks/site.yml", "playbooks/deploy.yml", "playbooks/rollback.yml",
           "roles/flask_nginx/tasks/main.yml", "roles/flask_nginx/tasks/validate.yml",
           "roles/flask_nginx/meta/main.yml", "roles/flask_nginx/meta/argument_specs.yml",
           "roles/flask_nginx/defaults/main.yml")


def run(cmd, cwd, env=None, timeout=180):
    return subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def output(result):
    return f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Build the collection, install it offline; return (tarball, collections dir, env)."""
    tmp = tmp_path_factory.mktemp("collection")
    built = run(["ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(tmp / "dist")], cwd=tmp)
    assert built.returncode == 0, output(built)
    tarball = tmp / "dist" / "flask_nginx-flask_nginx-1.0.0.tar.gz"
    assert tarball.is_file(), output(built)
    collections = tmp / "collections"
    installed = run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "--force",
                     "-p", str(collections), str(tarball)], cwd=tmp)
    assert installed.returncode == 0, output(installed)
    empty_cfg = tmp / "ansible.cfg"
    empty_cfg.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_CONFIG=str(empty_cfg),
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_ROLES_PATH=str(tmp / "no-roles-here"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    return tarball, collections, env


@pytest.fixture
def workdir(tmp_path):
    """An empty directory: no ansible.cfg, no roles/, nothing of this repository."""
    path = tmp_path / "empty"
    path.mkdir()
    return path


def test_tarball_ships_the_collection_and_no_development_files(collection):
    tarball, _, _ = collection
    with tarfile.open(tarball) as tar:
        names = [name.rstrip("/") for name in tar.getnames()]
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    leaked = [name for name in names
              if any(name == dev or name.startswith(dev + "/") for dev in DEV_PATHS)
              or name.endswith((".tar.gz", ".pyc")) or "__pycache__" in name]
    assert not leaked, f"development files in the tarball: {leaked}"
    missing = [name for name in SHIPPED if name not in names]
    assert not missing, f"missing from the tarball: {missing}"
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("flask_nginx", "flask_nginx", "1.0.0")
    assert info["license_file"] == "LICENSE" or "MIT" in info["license"]
    assert set(info["dependencies"]) == {"community.crypto"}


def test_collection_is_installed_with_runtime_metadata(collection):
    _, collections, _ = collection
    root = collections / "ansible_collections" / "flask_nginx" / "flask_nginx"
    assert yaml.safe_load((root / "meta" / "runtime.yml").read_text())["requires_ansible"] == ">=2.17.0"
    assert (root / "roles" / "flask_nginx" / "tasks" / "main.yml").is_file()


def test_role_by_fqcn_validates_the_defaults_and_changes_nothing(collection, workdir):
    """include_role by FQCN from a directory that only sees the installed collection.
    validate.yml only checks variables: with the defaults (and the one required
    setting, the app's source) every check passes and nothing changes."""
    _, _, env = collection
    app = workdir / "app"
    app.mkdir()
    (app / "app.py").write_text("from flask import Flask\n\napp = Flask(__name__)\n")
    (app / "requirements.txt").write_text("flask\n")
    (workdir / "play.yml").write_text(yaml.safe_dump([{
        "name": "Check the defaults with the collection's role",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": [{
            "name": "Validate",
            "ansible.builtin.include_role": {"name": FQCN, "tasks_from": "validate"},
            "vars": {"flask_nginx_app_src": str(app)},
        }],
    }], sort_keys=False))
    result = run(["ansible-playbook", "-i", "localhost,", "play.yml"], cwd=workdir, env=env)
    assert result.returncode == 0, output(result)
    assert f"{FQCN} : " in result.stdout, output(result)
    assert re.search(r"ok=[1-9][0-9]* .*failed=0", result.stdout), output(result)


def test_short_role_name_is_not_found_outside_the_collection(collection, workdir):
    """Guard for the test above: the repository's roles/ is really out of reach."""
    _, _, env = collection
    (workdir / "play.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "roles": [{"role": "flask_nginx"}],
    }]))
    result = run(["ansible-playbook", "-i", "localhost,", "play.yml", "--syntax-check"], cwd=workdir, env=env)
    assert result.returncode != 0
    assert "the role 'flask_nginx' was not found" in result.stderr, output(result)


@pytest.fixture
def fleet_inventory(workdir):
    inventory = workdir / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local"}},
        "children": {"flask_app": {"hosts": {"localhost": None}},
                     "flask_lb": {"hosts": {"localhost": None}}},
    }}))
    return inventory


@pytest.mark.parametrize("playbook", ["site", "deploy", "rollback"])
def test_collection_playbooks_pass_syntax_check(collection, workdir, fleet_inventory, playbook):
    _, collections, env = collection
    result = run(["ansible-playbook", "-i", str(fleet_inventory), f"flask_nginx.flask_nginx.{playbook}",
                  "--syntax-check"], cwd=workdir, env=env)
    assert result.returncode == 0, output(result)
    assert str(collections / "ansible_collections" / "flask_nginx" / "flask_nginx" / "playbooks") in result.stdout


def test_collection_playbook_finds_its_role_by_short_name_at_run_time(collection, workdir, fleet_inventory):
    """The playbooks name the role `flask_nginx` (roles_path in this repository). Run from the
    installed collection, ansible-core searches the playbook's own collection first, also for
    include_role at run time: rollback.yml reaches the collection's validate.yml, which refuses
    a bad name before anything else runs."""
    _, _, env = collection
    result = run(["ansible-playbook", "-i", str(fleet_inventory), "flask_nginx.flask_nginx.rollback",
                  "-e", "ansible_become=false", "-e", "flask_nginx_app_name=Bad"], cwd=workdir, env=env)
    assert result.returncode != 0, output(result)
    assert "was not found" not in result.stdout + result.stderr, output(result)
    assert f"TASK [{FQCN} : Check each variable against its rule]" in result.stdout, output(result)
    assert 'flask_nginx_app_name = "Bad" is refused' in result.stdout + result.stderr, output(result)


def test_ansible_doc_shows_the_collection_role(collection, workdir):
    _, _, env = collection
    result = run(["ansible-doc", "-t", "role", "--json", FQCN], cwd=workdir, env=env)
    assert result.returncode == 0, output(result)
    doc = json.loads(result.stdout)[FQCN]
    assert doc["collection"] == "flask_nginx.flask_nginx"
    main = doc["entry_points"]["main"]
    assert main["options"]["flask_nginx_app_name"]["default"] == "flaskapp"
    text = run(["ansible-doc", "-t", "role", FQCN], cwd=workdir, env=env)
    assert text.returncode == 0, output(text)
    assert re.search(r"ENTRY POINT: \*?main\*?", text.stdout) and "flask_nginx_app_name" in text.stdout, output(text)


def test_ansible_doc_shows_the_role_in_the_repository_layout():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = run(["ansible-doc", "-t", "role", "-r", "roles", "flask_nginx"], cwd=REPO, env=env)
    assert result.returncode == 0, output(result)
    assert re.search(r"ENTRY POINT: \*?main\*?", result.stdout), output(result)
    assert "flask_nginx_app_name" in result.stdout, output(result)


def test_the_collection_declares_what_an_execution_environment_needs(collection):
    """ansible-builder introspect reads the installed collection's meta/execution-environment.yml:
    its Python requirements (none but ansible-core) and its system packages (ssh) for the EE."""
    _, collections, _ = collection
    result = run(["ansible-builder", "introspect", "--sanitize", str(collections)], cwd=collections)
    assert result.returncode == 0, output(result)
    found = yaml.safe_load(result.stdout)
    system = [line for line in found["system"] if "flask_nginx.flask_nginx" in line]
    assert any(line.startswith("openssh-client [platform:dpkg]") for line in system), output(result)
    assert any(line.startswith("openssh-clients [platform:rpm]") for line in system), output(result)
    assert not [line for line in found.get("python") or [] if "flask_nginx.flask_nginx" in line], output(result)


def test_ansible_builder_writes_the_build_context_of_the_execution_environment(collection, tmp_path):
    """ansible-builder create on the repository's execution-environment.yml, with the built
    collection in dist/: the context holds the collection and a Containerfile that installs it
    with community.crypto (no image is built: there is no registry to pull a base image from)."""
    tarball, _, _ = collection
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / tarball.name).write_bytes(tarball.read_bytes())
    (tmp_path / "execution-environment.yml").write_text((REPO / "execution-environment.yml").read_text())
    result = run(["ansible-builder", "create", "--file", "execution-environment.yml", "--context", "context",
                  "--output-filename", "Containerfile"], cwd=tmp_path)
    assert result.returncode == 0, output(result)
    context = tmp_path / "context"
    assert (context / "_build" / "collections" / tarball.name).read_bytes() == tarball.read_bytes()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {c["name"] for c in requirements["collections"]} == {f"/build/{tarball.name}", "community.crypto"}
    containerfile = (context / "Containerfile").read_text()
    assert f"COPY _build/collections/{tarball.name} /build/" in containerfile
    assert "ansible-galaxy collection install" in containerfile and "ansible-core==2.19.14" in containerfile
