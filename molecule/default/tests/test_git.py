"""default scenario: deploys from git, for real. The Debian 13 host is an ssh git server
(Debian's openssh-server and git, a `deploy` account that holds a bare repository); the
Debian 12 host deploys the app "gitshop" (molecule/default/git.yml) from it over ssh, with
a deploy key made for the test and the server's host key pinned. The app is
molecule/default/packaged_app without its lock (installed as a project, chosen after the
checkout), its version in pyproject.toml: tag v1 (1.0.0), tag v2 (2.0.0), then branch
main moved on to 3.0.0.

Then over https with a token: the same server runs git's smart HTTP (git-http-backend
through fcgiwrap) behind an Nginx of its own on port 8443, with basic auth and a
certificate of a CA made for the test; the app host trusts that CA through
flask_nginx_package_index.ca_bundle. Tag v4 (4.0.0) exists only after the ssh story, so
only https can bring it."""
import base64
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess

import pytest
from conftest import Http, wait_for
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


def deploy_git(host, version, *args, variables):
    """git.yml on the tests' host with VARIABLES, at VERSION; what it left serving."""
    result = run_playbook(scenario_file("git.yml"), *args, "-e",
                          json.dumps({"flask_nginx_app_git_version": version, **variables}),
                          "--limit", host.backend.get_hostname())
    status, _, body = Http(host).get("/versions", host_header=NAME)
    return {"result": result, "current": host.file(f"/opt/{APP}/current").linked_to,
            "version": json.loads(body).get("packaged-app") if status == 200 else None}


@pytest.fixture(scope="module")
def git_story(host, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("git")
    server = remote(SERVER)
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
        return deploy_git(host, version, *args, variables={
            "flask_nginx_app_git_repo": f"ssh://deploy@{address}{REPO_PATH}",
            "flask_nginx_app_git_key_file": str(key),
            "flask_nginx_app_git_known_hosts": list(known_hosts)})

    seen = {"server": server, "address": address, "work": work, "tmp": tmp,"v1 commit": v1, "key": key.read_text(), "tag v1": deploy("v1"), "tag v2": deploy("v2", "-vvv")}
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


# git's smart HTTP on the server: an Nginx of its own (not the role's, which keeps its
# ports and files), basic auth, git-http-backend through fcgiwrap.
HTTPS_PORT, TOKEN_USER = 8443, "oauth2"
HTTPS_SETUP = """set -e
command -v fcgiwrap >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends fcgiwrap >/dev/null 2>&1 \\
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends fcgiwrap >/dev/null; }
}
systemctl enable --now fcgiwrap.socket >/dev/null 2>&1
chmod 0755 /srv/git && chmod -R a+rX /srv/git/gitshop.git
install -d -m 0755 /srv/githttp
systemctl stop flask-nginx-test-githttp 2>/dev/null || true
systemctl reset-failed flask-nginx-test-githttp 2>/dev/null || true
systemd-run --quiet --unit=flask-nginx-test-githttp /usr/sbin/nginx -c /srv/githttp/nginx.conf -g 'daemon off;'
"""
HTTPS_NGINX = f"""user www-data;
worker_processes 1;
pid /run/flask-nginx-test-githttp.pid;
error_log /srv/githttp/error.log;
events {{}}
http {{
  log_format git '$remote_addr $remote_user "$request" $status';
  access_log /srv/githttp/access.log git;
  server {{
    listen {HTTPS_PORT} ssl;
    ssl_certificate /srv/githttp/server.pem;
    ssl_certificate_key /srv/githttp/server.key;
    auth_basic git;
    auth_basic_user_file /srv/githttp/htpasswd;
    location / {{
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:/run/fcgiwrap.socket;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT /srv/git;
      fastcgi_param GIT_HTTP_EXPORT_ALL 1;
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
      # The repository is the deploy account's; git-http-backend runs as www-data.
      fastcgi_param GIT_CONFIG_COUNT 1;
      fastcgi_param GIT_CONFIG_KEY_0 safe.directory;
      fastcgi_param GIT_CONFIG_VALUE_0 *;
    }}
  }}
}}
"""
# The command line of every process on the app host, read from /proc every 10 ms while a
# deploy runs (what a process list shows); each different one is written once.
CMDLINE_SAMPLER = """import os, time
seen = set()
with open("/root/cmdlines", "a") as out:
    while True:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    line = cmdline.read().replace(b"\\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if line and line not in seen:
                seen.add(line)
                out.write(line + "\\n")
                out.flush()
        time.sleep(0.01)
"""
SAMPLER_UNIT = "flask-nginx-test-cmdline-sampler"
# Files on the app host that hold TOKEN (the uv and pip caches are the machine's, shared).
FILES_WITH = "grep -rlF -D skip --exclude-dir=.cache -e {token} /etc /opt /var /srv /root /home /tmp /run 2>/dev/null || true"


def make_test_ca(tmp, address):
    """A CA made for the test, and the server's certificate for ADDRESS, signed by it."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=flask-nginx git test CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={address}", "-keyout", "server.key", "-out", "server.csr")
    (tmp / "san.cnf").write_text(f"subjectAltName=IP:{address}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.cnf", "-out", "server.pem")
    return tmp / "ca.pem"


@pytest.fixture(scope="module")
def https_story(host, git_story):
    server, address, work, tmp = (git_story[k] for k in ("server", "address", "work", "tmp"))
    token, wrong = "glpat-" + secrets.token_hex(16), "glpat-" + secrets.token_hex(16)
    ca = make_test_ca(tmp, address)
    system = os.environ.get("FLASK_NGINX_PIP_CA_BUNDLE") or "/etc/ssl/certs/ca-certificates.crt"
    trusted = tmp / "bundle-with-test-ca.pem"  # what pip needs (the index), and the test CA
    trusted.write_text(open(system).read().rstrip("\n") + "\n" + ca.read_text())
    (tmp / "htpasswd").write_text(
        f"{TOKEN_USER}:{{SHA}}{base64.b64encode(hashlib.sha1(token.encode()).digest()).decode()}\n")
    (tmp / "nginx.conf").write_text(HTTPS_NGINX)

    commit_version(work, "4.0.0", "v4")
    publish(work, server, tmp)
    for name in ("server.pem", "server.key", "htpasswd", "nginx.conf"):
        assert server.run("install -d -m 0755 /srv/githttp").rc == 0
        subprocess.run(["docker", "cp", str(tmp / name), f"{SERVER}:/srv/githttp/{name}"], check=True)
    setup = server.run(HTTPS_SETUP)
    assert setup.rc == 0, setup.stdout + setup.stderr
    wait_for(lambda: server.run(f"ss -ltn | grep -q ':{HTTPS_PORT} '").rc == 0, 30)

    def deploy(secret, bundle, *args):
        return deploy_git(host, "v4", *args, variables={
            "flask_nginx_app_git_repo": f"https://{TOKEN_USER}:{secret}@{address}:{HTTPS_PORT}{REPO_PATH.removeprefix('/srv/git')}",
            "flask_nginx_package_index": {"ca_bundle": str(bundle)}})

    host.run(f"systemctl stop {SAMPLER_UNIT}; rm -f /root/cmdlines")
    assert host.run(f"systemd-run --quiet --unit={SAMPLER_UNIT} python3 -c {shlex.quote(CMDLINE_SAMPLER)}").rc == 0
    try:
        seen = {"token": token, "wrong": wrong, "before": git_story["commit"], "tag v4": deploy(token, trusted, "-vvv")}
    finally:
        host.run(f"systemctl stop {SAMPLER_UNIT}")
    seen["processes"] = host.check_output("cat /root/cmdlines")
    seen["files with the token"] = host.check_output(FILES_WITH.format(token=shlex.quote(token))).split()
    journal = host.run(f"journalctl --no-pager -o cat -n 100000 > /root/journal && wc -l < /root/journal && "
                       f"grep -cF {shlex.quote(token)} /root/journal; rm -f /root/journal")
    seen["journal lines"], seen["journal lines with the token"] = (int(n) for n in journal.stdout.split())
    seen["credentials"] = host.file(f"/etc/flask-nginx/{APP}/git-credentials")
    seen["server log"] = server.check_output("cat /srv/githttp/access.log")
    seen["wrong token"] = deploy(wrong, trusted)
    seen["untrusted CA"] = deploy(token, system)
    yield seen
    server.run("systemctl stop flask-nginx-test-githttp")


def test_a_tag_deploys_over_https_with_a_token_through_a_test_ca(https_story):
    v4 = https_story["tag v4"]
    assert v4["result"].returncode == 0, output(v4["result"])
    assert v4["version"] == "4.0.0" and v4["current"] != https_story["before"]["current"]
    # git fetched over https as the token's user (basic auth), not over ssh.
    assert re.search(rf'^\S+ {TOKEN_USER} "POST /gitshop.git/git-upload-pack HTTP/1.1" 200$',
                     https_story["server log"], re.MULTILINE), https_story["server log"]


def test_the_token_never_shows_in_output_processes_or_readable_files(https_story):
    token = https_story["token"]
    text = output(https_story["tag v4"]["result"], tail=None)  # -vvv
    assert " EXEC " in text and token not in text
    # The sampler saw git at work on the https URL, and the token in no process's arguments.
    processes = https_story["processes"]
    assert re.search(r"git.* https://[^ ]*:8443/gitshop\.git", processes), processes[-3000:]
    assert token not in processes
    # One file holds it, root's alone; the journal does not.
    assert https_story["files with the token"] == [f"/etc/flask-nginx/{APP}/git-credentials"]
    credentials = https_story["credentials"]
    assert (credentials.user, credentials.group, credentials.mode) == ("root", "root", 0o600)
    assert https_story["journal lines"] > 100 and https_story["journal lines with the token"] == 0


def test_a_wrong_token_and_an_untrusted_ca_are_refused_and_the_release_keeps_serving(https_story):
    v4 = https_story["tag v4"]
    for case, said in (("wrong token", r"Authentication failed"),
                       ("untrusted CA", r"server certificate verification failed|SSL certificate problem")):
        failed = https_story[case]
        text = output(failed["result"], tail=None)
        assert failed["result"].returncode != 0, output(failed["result"])
        # git's own words, as the failure quotes them
        assert "git could not check out v4" in text and re.search(said, text.split("git said:", 1)[-1]), \
            output(failed["result"])
        assert https_story["wrong"] not in text and https_story["token"] not in text
        assert failed["current"] == v4["current"] and failed["version"] == "4.0.0"
