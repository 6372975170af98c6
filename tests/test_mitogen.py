"""The Mitogen opt-in (scripts/mitogen.sh): Mitogen for Ansible loads with the pinned
ansible-core and runs the role's real checks, plan and Nginx templates (modules through
Mitogen's `local` connection) to the same result as plain Ansible. The benchmark (bench/)
converges the role with it too (first run and idempotent re-run) and reports both."""
import os
import subprocess
from pathlib import Path

from conftest import REPO, SAMPLE_APP, plan

HOSTS = {"all": {"hosts": {"web": {"flask_nginx_app_src": SAMPLE_APP, "flask_nginx_app_name": "shop",
                                   "flask_nginx_server_names": ["shop.test"]}}}}


def mitogen_settings():
    result = subprocess.run(["bash", str(REPO / "scripts" / "mitogen.sh"), "--env"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def rendered_files(out):
    root = Path(out) / "rendered"
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_the_opt_in_names_mitogens_strategy_and_where_it_lives():
    settings = mitogen_settings()
    assert settings["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert os.path.isfile(os.path.join(settings["ANSIBLE_STRATEGY_PLUGINS"], "mitogen_linear.py"))


def test_the_role_plans_and_renders_the_same_under_mitogen(tmp_path, monkeypatch):
    plain_dir, mitogen_dir = tmp_path / "plain", tmp_path / "mitogen"
    plain_dir.mkdir()
    mitogen_dir.mkdir()
    plain, plain_plans = plan(plain_dir, HOSTS)
    assert plain.returncode == 0, plain.stdout[-4000:]
    # Ansible refuses a strategy it cannot load, so a zero exit means Mitogen ran the play.
    for name, value in mitogen_settings().items():
        monkeypatch.setenv(name, value)
    result, plans = plan(mitogen_dir, HOSTS)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert plans == plain_plans
    files = rendered_files(mitogen_dir)
    assert any(name.endswith(".conf") for name in files), sorted(files)
    assert files == rendered_files(plain_dir)
