"""default scenario: deploys from git, for real. The Debian 13 host is an ssh git server
(Debian's openssh-server and git, a `deploy` account that holds a bare repository); the
Debian 12 host deploys the app "gitshop" (molecule/default/git.yml) from it over ssh, with
a deploy key made for the test and the server's host key pinned. The app is
molecule/default/packaged_app without its lock (installed as a project, chosen after the
checkout), its version in pyproject.toml: tag v1 (1.0.0), tag v2 (2.0.0), then branch
main moved on to 3.0.0."""
import json
import re
import shlex
import shutil
import subprocess

import pytest
from conftest import Http
from flask_nginx_testing import output, remote, run_playbook, scenario_file

testinfra_hosts = ["ansible://flask-nginx-default-debian12"]
SERVER = "flask-nginx-default-debian13"
APP, NAME = "gitshop", "gitshop.test"
REPO_PATH = "/srv/git/gitshop.git"

SERVER_SETUP = """set -e
command -v sshd >/dev/null && command -v git >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends openssh-server git >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server git >/dev/null; }
}
id deploy >/dev/null 2>&1 || useradd --create-home --shell /usr/bin/git-shell deploy
usermod --password '*' deploy   # no password, not locked: ssh keys let it in
install -d -o deploy -g deploy -m 0700 /home/deploy/.ssh /srv/git
systemctl enable --now ssh >/dev/null 2>&1
"""



def ran(task, result):
    """TASK ran (changed) in RESULT's output: its header followed by a `changed` line, not
    just its header (skipped tasks show theirs too)."""
    return re.search(re.escape(task) + r"\] \*+\nchanged: ", result.stdout) is not None


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit_version(work, version, tag=None):
    pyproject = (work / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(pyproject.replace('version = "1.0.0"', f'version = "{version}"'))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"version {version}")
    if tag:
        git(work, "tag", tag)
    (work / "pyproject.toml").write_text(pyproject)
    return git(work, "rev-parse", "HEAD")


def publish(work, server, tmp):
    """The work tree's history as the server's bare repository, owned by the deploy account."""
    bare = tmp / "gitshop.git"
    shutil.rmtree(bare, ignore_errors=True)
    git(tmp, "clone", "-q", "--bare", str(work), str(bare))
    subprocess.run(["docker", "cp", f"{bare}/.", f"{SERVER}:{REPO_PATH}"], check=True, capture_output=True)
    assert server.run(f"chown -R deploy:deploy {REPO_PATH}").rc == 0


@pytest.fixture(scope="module")
def git_story(host, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("git")
    server, http, limit = remote(SERVER), Http(host), ("--limit", host.backend.get_hostname())
    setup = server.run(SERVER_SETUP)
    assert setup.rc == 0, setup.stdout + setup.stderr
    address = server.check_output("hostname -I").split()[0]

    # The deploy key (controller side), allowed on the server; the server's real host key,
    # and another one for the wrong-key case.
    key = tmp / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gitshop-deploy", "-f", str(key)], check=True)
    pub = (tmp / "deploy_key.pub").read_text().strip()
    assert server.run(f"install -o deploy -g deploy -m 0600 /dev/null /home/deploy/.ssh/authorized_keys && "
                      f"echo {shlex.quote(pub)} > /home/deploy/.ssh/authorized_keys").rc == 0
    host_key = server.check_output("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")
    other = tmp / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong_key = " ".join((tmp / "other_host_key.pub").read_text().split()[:2])

    work = tmp / "work"
    shutil.copytree(scenario_file("packaged_app"), work, ignore=shutil.ignore_patterns("uv.lock", "__pycache__"))
    git(work, "init", "-q", "-b", "main")
    v1 = commit_version(work, "1.0.0", "v1")
    commit_version(work, "2.0.0", "v2")
    publish(work, server, tmp)

    def deploy(version, *args, known_hosts=(f"{address} {host_key}",)):
        result = run_playbook(scenario_file("git.yml"), *args, "-e", json.dumps({
            "flask_nginx_app_git_repo": f"ssh://deploy@{address}{REPO_PATH}",
            "flask_nginx_app_git_version": version,
            "flask_nginx_app_git_key_file": str(key),
            "flask_nginx_app_git_known_hosts": list(known_hosts)}), *limit)
        status, _, body = http.get("/versions", host_header=NAME)
        return {"result": result, "current": host.file(f"/opt/{APP}/current").linked_to,
                "version": json.loads(body).get("packaged-app") if status == 200 else None}

    seen = {"v1 commit": v1, "key": key.read_text(), "tag v1": deploy("v1"), "tag v2": deploy("v2", "-vvv")}
    seen["missing ref"] = deploy("v9")
    seen["wrong host key"] = deploy("v2", known_hosts=(f"{address} {wrong_key}",))
    commit_version(work, "3.0.0")
    publish(work, server, tmp)
    seen["branch moved"] = deploy("main")
    seen["commit"] = deploy(v1)
    seen["key file"] = host.file(f"/etc/flask-nginx/{APP}/git-deploy-key")
    seen["checkout"] = host.file(f"/opt/{APP}/repo")
    return seen


def test_tags_deploy_over_ssh_with_the_deploy_key(git_story):
    one, two = git_story["tag v1"], git_story["tag v2"]
    assert one["result"].returncode == 0, output(one["result"])
    assert one["version"] == "1.0.0"
    # A git release is its commit; installed as a project, as its files say (no lock, no requirements).
    assert one["current"].endswith("/" + git_story["v1 commit"][:12])
    assert ran("Ensure the release's virtualenv has the project of pyproject.toml, with uv", one["result"])
    assert two["result"].returncode == 0, output(two["result"])
    assert two["version"] == "2.0.0" and two["current"] != one["current"]


def test_a_moved_branch_redeploys_and_a_commit_pins_a_release(git_story):
    moved, pinned = git_story["branch moved"], git_story["commit"]
    assert moved["result"].returncode == 0, output(moved["result"])
    assert moved["version"] == "3.0.0"
    assert pinned["result"].returncode == 0, output(pinned["result"])
    assert pinned["version"] == "1.0.0" and pinned["current"] == git_story["tag v1"]["current"]


def test_a_missing_ref_fails_and_the_live_release_keeps_serving(git_story):
    missing, before = git_story["missing ref"], git_story["tag v2"]
    assert missing["result"].returncode != 0
    assert "git could not check out v9 of the repository" in output(missing["result"], tail=None), \
        output(missing["result"])
    assert missing["current"] == before["current"] and missing["version"] == "2.0.0"


def test_a_wrong_host_key_is_refused(git_story):
    wrong, before = git_story["wrong host key"], git_story["tag v2"]
    assert wrong["result"].returncode != 0
    text = output(wrong["result"], tail=None)
    assert "git could not check out v2" in text and "Host key verification failed" in text, output(wrong["result"])
    assert wrong["current"] == before["current"] and wrong["version"] == "2.0.0"


def test_the_deploy_key_never_shows_and_stays_root_only(git_story):
    body = [line for line in git_story["key"].splitlines() if line and not line.startswith("-----")]
    text = output(git_story["tag v2"]["result"], tail=None)  # -vvv
    assert body and not [line for line in body if line in text]
    key_file, checkout = git_story["key file"], git_story["checkout"]
    assert (key_file.user, key_file.group, key_file.mode) == ("root", "root", 0o600)
    assert (checkout.user, checkout.mode) == ("root", 0o700)
