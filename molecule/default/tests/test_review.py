"""default scenario: the defects an outside review found, each checked on the real host
(TLS profile enforcement, secrets, tags, limits, minimal hosts, control socket)."""
import json
import re
import shlex
import time

import pytest
from conftest import APP, UNIT, Http, read_journal, release_of, wait_for
from flask_nginx_testing import output, run_playbook, scenario_file

# Most of these run whole plays: once, on Debian 12, is enough to prove each fix (both
# hosts converge, pass idempotence and the other test files on the minimal images).
testinfra_hosts = ["ansible://flask-nginx-default-debian12"]

BLOG = "blog.test"
INTERMEDIATE_ECDSA = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]
NOT_IN_PROFILE = ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256", "AES128-GCM-SHA256"]

# A TLS client in the host's own Python: protocol ceiling and cipher list are ours to choose.
TLS_PROBE = r"""
import socket, ssl, sys
name, ceiling, ciphers = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
context.minimum_version = ssl.TLSVersion.TLSv1_2
if ceiling != "any":
    context.maximum_version = getattr(ssl.TLSVersion, ceiling)
if ciphers != "default":
    context.set_ciphers(ciphers)
try:
    with context.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=5), server_hostname=name) as s:
        print(s.version(), s.cipher()[0])
except (ssl.SSLError, OSError) as error:
    print("refused", type(error).__name__)
"""


def tls(host, ceiling="any", ciphers="default", name=BLOG):
    return host.check_output(f"python3 -c {shlex.quote(TLS_PROBE)} {name} {ceiling} {shlex.quote(ciphers)}")


def play(playbook, *args, **kwargs):
    return run_playbook(scenario_file(playbook), *args, **kwargs)


def test_intermediate_profile_negotiates_tls13(host):
    assert tls(host).startswith("TLSv1.3 ")


@pytest.mark.parametrize("cipher", INTERMEDIATE_ECDSA)
def test_intermediate_profile_offers_mozillas_tls12_ciphers(host, cipher):
    assert tls(host, "TLSv1_2", cipher) == f"TLSv1.2 {cipher}"


@pytest.mark.parametrize("cipher", NOT_IN_PROFILE)
def test_intermediate_profile_refuses_other_tls12_ciphers(host, cipher):
    assert tls(host, "TLSv1_2", cipher).startswith("refused"), cipher


def test_modern_profile_refuses_tls12(host):
    """The blog with the modern profile: TLS 1.2 is refused for its name and for an
    unknown one (the default server sets the protocols as well)."""
    limit = ("--limit", host.backend.get_hostname())
    result = play("blog.yml", "-e", '{"flask_nginx_tls_profile": "modern"}', *limit)
    try:
        assert result.returncode == 0, output(result)
        # The reload takes effect shortly after it returns (old workers stop accepting).
        assert wait_for(lambda: tls(host, "TLSv1_2").startswith("refused"), 30)
        assert tls(host).startswith("TLSv1.3 ")
    finally:
        restored = play("blog.yml", *limit)
        assert restored.returncode == 0, output(restored)
    assert wait_for(lambda: tls(host, "TLSv1_2").startswith("TLSv1.2 "), 30)


def test_known_name_with_unknown_host_header_gets_no_answer(host):
    """TLS with the blog's name, then `Host: other.test`: the HTTPS default server answers 444."""
    result = host.run("curl -sk --http1.1 --max-time 5 --resolve blog.test:443:127.0.0.1 -H 'Host: other.test' https://blog.test/")
    assert result.rc == 52, (result.rc, result.stdout)  # empty reply: the connection was closed


def test_body_larger_than_the_limit_gets_413(http):
    """The blog allows 1m (flask_nginx_client_max_body_size): 2 MB get 413, 100 KB pass
    (to the sample app's upload endpoint, which takes any body)."""
    big = "head -c 2000000 /dev/zero > /tmp/big.bin"
    http.host.run_expect([0], big)
    status = http.get("/api/upload", "-k", "-X", "POST", "-H", "Expect:", "--data-binary", "@/tmp/big.bin",
                      host_header=BLOG, scheme="https", body=False)[0]
    assert status == 413
    http.host.run_expect([0], "head -c 100000 /dev/zero | tr '\\0' x > /tmp/small.txt")
    status = http.get("/api/upload", "-k", "-X", "POST", "--data-binary", "@/tmp/small.txt",
                      host_header=BLOG, scheme="https", body=False)[0]
    assert status == 200


def test_rate_limit_answers_429_beyond_the_burst(host):
    """The blog allows 5 requests/s with a burst of 5: 40 requests at once see 429s and 200s."""
    out = host.check_output(
        "seq 40 | xargs -P 20 -I{} curl -sk -o /dev/null -w '%{http_code}\\n' "
        "--resolve blog.test:443:127.0.0.1 https://blog.test/healthz | sort | uniq -c")
    codes = {code: int(count) for count, code in (line.split() for line in out.splitlines())}
    assert codes.get("429", 0) > 0 and codes.get("200", 0) >= 5, codes
    time.sleep(2)  # let the bucket drain for the other tests


def test_app_may_write_to_its_writable_dirs(host):
    """flask_nginx_app_writable_dirs: the blog's worker, in its own namespace, writes there."""
    master = host.check_output("systemctl show -p MainPID --value gunicorn-blog.service")
    worker = host.check_output(f"pgrep -P {master} | head -1")
    probe = f"nsenter --target {worker} --mount -- setpriv --reuid=blog --regid=blog --init-groups sh -c"
    host.run_expect([0], f"{probe} 'echo x > /srv/blog-uploads/probe && rm /srv/blog-uploads/probe'")
    assert host.run(f"{probe} 'echo x > /srv/probe'").rc != 0


def test_tags_app_alone_puts_a_new_release_live(tags_app_story):
    """--tags flask_nginx_app switches `current`; Gunicorn must serve it at once (it
    reloads whenever it serves another release than current), not on some later run."""
    result = tags_app_story["result"]
    assert result.returncode == 0, output(result)
    # The play ended when Gunicorn's new workers were there (its health check waits for them).
    assert tags_app_story["current"].endswith("/" + tags_app_story["served"])
    assert tags_app_story["version"] == "4"
    assert tags_app_story["restored"].returncode == 0, output(tags_app_story["restored"])
    assert tags_app_story["version after"] == "1"  # the restore reloaded Gunicorn gracefully


def test_tags_health_alone_checks_an_https_site_over_https(host):
    # -v: the health check's own output (URL, name, status) is shown.
    result = play("blog.yml", "-v", "--tags", "flask_nginx_health", "--limit", host.backend.get_hostname())
    assert result.returncode == 0, output(result)
    assert "https://127.0.0.1:443/healthz (as blog.test) -> 200" in output(result, tail=None)


def test_graceful_reload_works_without_procps(host):
    """Minimal hosts have no /bin/kill (procps): the unit's reload must not need it."""
    kill = host.check_output("readlink -f /bin/kill || true")
    master = host.check_output(f"systemctl show -p MainPID --value {UNIT}.service")
    workers = set(host.check_output(f"pgrep -P {master}").split())
    if kill:
        host.run_expect([0], f"mv {kill} {kill}.aside")
    try:
        host.run_expect([0], f"systemctl reload {UNIT}.service")
        deadline = time.time() + 30
        while time.time() < deadline and set(host.run(f"pgrep -P {master}").stdout.split()) & workers:
            time.sleep(0.5)
    finally:
        if kill:
            host.run(f"mv {kill}.aside {kill}")
    assert host.check_output(f"systemctl show -p MainPID --value {UNIT}.service") == master
    new = set(host.check_output(f"pgrep -P {master}").split())
    assert new and not new & workers, (workers, new)


def test_a_start_logs_no_error_lines(host):
    """A restart of Gunicorn logs no error (Gunicorn 27's control socket is in the runtime
    directory, not in the read-only home)."""
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    host.run_expect([0], f"systemctl restart {UNIT}.service")
    settled = time.time() + 2  # an error line has 2 s at least to show
    control = f"/run/{UNIT}/control.sock"
    journal = read_journal(host, f"{UNIT}.service", lambda text: ("Booting worker" in text or "Listening" in text)
                           and time.time() >= settled and host.file(control).exists, f"--since '{since}'")
    assert "Booting worker" in journal or "Listening" in journal, journal
    assert not re.search(r"error|Read-only file system", journal, re.I), journal
    assert host.socket(f"unix://{control}").is_listening or host.file(control).exists


def test_gunicorn_is_reinstalled_when_the_pin_differs_from_the_installed_version(host):
    """An upgrade followed by a revert must not skip pip: the marker holds the version."""
    marker = f"/opt/{APP}/gunicorn/.flask-nginx-gunicorn-version"
    host.run_expect([0], f"echo 99.0.0 > {marker}")
    result = play("shop.yml", "--limit", host.backend.get_hostname())
    assert result.returncode == 0, output(result)
    assert re.search(r"TASK \[flask_nginx : Ensure the Gunicorn virtualenv has the pinned Gunicorn[^\n]*\n(ok|changed):",
                     result.stdout), output(result)
    assert host.file(marker).content_string.strip() == "gunicorn==27.0.1"


def test_check_mode_on_a_fresh_host_finishes_and_reports_changes(tmp_path):
    """--check --diff on a host that has only what Ansible needs (a new container of the
    test image): the run finishes and reports what it would change."""
    import os
    import subprocess
    import sys
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    sys.path.insert(0, os.path.join(project, "images"))
    from systemd_container import docker_run_args
    name = "flask-nginx-default-fresh"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(["docker", "run", "-d", "--name", name, *docker_run_args("flask-nginx-test:bookworm")],
                   capture_output=True, text=True, check=True)
    try:
        inventory = tmp_path / "fresh.yml"
        inventory.write_text(
            "flask_app:\n  hosts:\n    %s:\n      ansible_connection: community.docker.docker\n"
            "      ansible_python_interpreter: /usr/bin/python3\n"
            "      flask_nginx_app_src: %s/molecule/test_app\n" % (name, project))
        wait_for(lambda: subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"], capture_output=True,
                                        text=True).stdout.strip() in ("running", "degraded"), 90)  # systemd is up
        result = run_playbook(scenario_file("blog.yml"), "--check", "--diff", inventory_file=inventory)
        text = output(result, tail=None)
        assert result.returncode == 0, output(result)
        recap = re.search(rf"^{name}\s*:.*$", result.stdout, re.M).group(0)
        assert "failed=0" in recap and not re.search(r"changed=0\b", recap), recap
        assert "Would install python3-apt and" in text and "the check of this fresh host ends here" in text
        # Nothing was changed for real.
        probe = subprocess.run(["docker", "exec", name, "sh", "-c", "command -v nginx; ls /opt"],
                               capture_output=True, text=True)
        assert "nginx" not in probe.stdout and "blog" not in probe.stdout, probe.stdout
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def task_outcome(text, task):
    """The first outcome (ok, changed, skipping, failed) a run printed for TASK of the role."""
    found = re.search(rf"TASK \[flask_nginx : {re.escape(task)}\][^\n]*\n(?:[^\n]*\n)*?(ok|changed|skipping|fatal):", text)
    return found.group(1) if found else None


def test_a_rerun_acts_only_where_the_host_differs_from_what_the_probe_read(host):
    """The plan reads packages, units, the app's account and release in one round trip
    (flask_nginx_probe, on this real systemd host). A re-run then skips apt, the user and the
    start of every unit found enabled and running, and still repairs what drifted."""
    host.run_expect([0], "systemctl disable --now logrotate.timer")
    result = play("shop.yml", "--limit", host.backend.get_hostname())
    assert result.returncode == 0, output(result)
    text = output(result, tail=None)
    assert task_outcome(text, "Ensure logrotate's timer is enabled, with its schedule up to date") == "changed", \
        output(result)
    timer = host.service("logrotate.timer")
    assert timer.is_enabled and timer.is_running
    for task in ("Ensure the packages the role uses are installed",
                 "Ensure the app's group exists",
                 "Ensure the app's system user exists, without a login shell",
                 "Ensure the Gunicorn socket is enabled and listening",
                 "Ensure Gunicorn is enabled and running",
                 "Ensure Nginx is enabled and running",
                 "Switch the current release atomically"):
        assert task_outcome(text, task) == "skipping", (task, output(result))


@pytest.fixture(scope="module")
def tags_app_story(host, tmp_path_factory, app_source):
    """A new release (v4, with files the archive must keep or leave out) deployed with
    --tags flask_nginx_app alone, then the configured source converged again."""
    import shutil
    source = tmp_path_factory.mktemp("tags-app") / "packed"
    shutil.copytree(app_source, source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "VERSION").write_text("4\n")
    (source / "tools").mkdir()
    (source / "tools" / "run.sh").write_text("#!/bin/sh\necho ok\n")
    (source / "tools" / "run.sh").chmod(0o750)
    (source / "tools" / "notes.txt").write_text("private on the controller\n")
    (source / "tools" / "notes.txt").chmod(0o600)
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (source / "tools" / "stray.pyc").write_bytes(b"\0")
    # Local settings and secrets the default flask_nginx_app_exclude leaves out.
    (source / ".env").write_text("SECRET_KEY=on-the-controller-only\n")
    (source / "instance").mkdir()
    (source / "instance" / "config.py").write_text("SECRET_KEY = 'on-the-controller-only'\n")
    left_out = {".git", "__pycache__", ".env", "instance"}
    seen = {"expected": sorted(str(p.relative_to(source)) for p in source.rglob("*")
                               if not left_out & set(p.relative_to(source).parts) and p.suffix != ".pyc")}
    limit, http = ("--limit", host.backend.get_hostname()), Http(host)
    seen["result"] = play("shop.yml", "--tags", "flask_nginx_app", "-e", json.dumps({"flask_nginx_app_src": str(source)}),
                          *limit)
    seen["current"] = host.file(f"/opt/{APP}/current").linked_to
    seen["served"] = release_of(host, f"{UNIT}.service")
    worker = f"{APP}-worker-jobs@1.service"
    seen["worker after tags"] = release_of(host, worker)
    code = seen["current"] + "/app"
    seen["listed"] = host.check_output(f"cd {code} && find . -mindepth 1 ! -name '*.gz' -printf '%P\\n' | LC_ALL=C sort")
    seen["modes"] = dict(line.split(" ", 1)[::-1] for line in host.check_output(
        f"cd {code} && stat -c '%a:%U:%G %n' tools tools/run.sh tools/notes.txt app.py").splitlines())
    seen["version"] = http.served_version("4")
    # A whole run of the same source: nothing to deploy, but the worker still runs the
    # release before --tags (its tag was not asked for).
    seen["whole run"] = play("shop.yml", "-e", json.dumps({"flask_nginx_app_src": str(source)}), *limit)
    seen["worker after whole run"] = release_of(host, worker)
    seen["restored"] = play("shop.yml", *limit)
    seen["version after"] = http.served_version("1")
    return seen


def test_a_local_apps_code_arrives_without_secrets_git_and_bytecode_private_files_private(tags_app_story):
    """The code travels as one archive: every file and directory of the source, owned by root
    and readable by the app's group (an executable stays executable), readable by others only
    where it was on the controller (a private file stays private), and nothing the release's
    checksum leaves out (.env, instance/, .git, __pycache__, *.pyc)."""
    assert tags_app_story["result"].returncode == 0, output(tags_app_story["result"])
    assert tags_app_story["listed"].splitlines() == sorted(tags_app_story["expected"], key=lambda p: p.encode())
    assert tags_app_story["modes"] == {"tools": f"755:root:{APP}", "tools/run.sh": f"750:root:{APP}",
                                       "tools/notes.txt": f"640:root:{APP}", "app.py": f"644:root:{APP}"}
    assert tags_app_story["version"] == "4"
    assert tags_app_story["restored"].returncode == 0, output(tags_app_story["restored"])
    assert tags_app_story["version after"] == "1"  # the restore reloaded Gunicorn gracefully


def test_a_whole_run_after_tags_app_moves_the_background_workers_onto_current(tags_app_story):
    """--tags flask_nginx_app switches `current` but leaves the workers alone (their tag was
    not asked for); the next whole run finds them on an older release than `current` (their
    start time against the link's) and restarts them onto it."""
    current = tags_app_story["current"].rsplit("/", 1)[1]
    assert tags_app_story["worker after tags"] != current
    assert tags_app_story["whole run"].returncode == 0, output(tags_app_story["whole run"])
    assert tags_app_story["worker after whole run"] == current


# --- secrets: one rotation at -vvv, one failing release at -vvv, one converge back ----------

@pytest.fixture(scope="module")
def secret_story(host, tmp_path_factory, app_source):
    import shutil
    limit = ("--limit", host.backend.get_hostname())
    secret = "vvv-Secret-Value-0815"
    env = {"flask_nginx_app_env": {"APP_NAME": "shop", "APP_VERSION": "1", "SECRET_KEY": secret}}
    # The app's runtime directory is the app's: a link it made there to a root-only file
    # (where the role once read the release Gunicorn serves) must never be read by root.
    canary = "root-only-Canary-4711"
    host.run_expect([0], f"printf '%s\\n' {canary} > /root/root-only && chmod 600 /root/root-only"
                         f" && ln -sfn /root/root-only /run/{UNIT}/release")
    seen = {"secret": secret, "canary": canary,
            "rotated": play("shop.yml", "-vvv", "--diff", "-e", json.dumps(env), *limit)}
    seen["env file"] = host.file(f"/etc/flask-nginx/{APP}/app.env").content_string
    source = tmp_path_factory.mktemp("leaky") / "leaky"
    shutil.copytree(app_source, source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "app.py").write_text((source / "app.py").read_text()
                                   + "\nimport os\nraise RuntimeError('cannot connect with ' + os.environ['SECRET_KEY'])\n")
    seen["failed"] = play("shop.yml", "-vvv", "-e", json.dumps(env | {"flask_nginx_app_src": str(source)}), *limit)
    seen["restored"] = play("shop.yml", *limit)
    return seen


def test_secret_values_never_appear_in_converge_output(secret_story):
    """A converge that rotates the secret (so the environment file changes), with -vvv
    and --diff: neither the old nor the new value may show."""
    result, secret = secret_story["rotated"], secret_story["secret"]
    assert result.returncode == 0, output(result)
    text = output(result, tail=None)
    assert "Write the new settings and secrets beside the live ones" in text  # the task that writes them ran
    assert secret not in text and "s3cr3t-Molecule-Value" not in text
    assert secret in secret_story["env file"]
    assert secret_story["restored"].returncode == 0, output(secret_story["restored"])


def test_root_never_reads_what_the_app_can_write(secret_story):
    """What Gunicorn serves is learnt from the kernel and systemd: a link the app left in its
    runtime directory, to a root-only file, is never followed, and its content never shows."""
    assert secret_story["rotated"].returncode == 0, output(secret_story["rotated"])
    assert secret_story["canary"] not in output(secret_story["rotated"], tail=None)


def test_secrets_never_appear_with_vvv_on_success_or_failure(secret_story):
    """-vvv, once rotating the secret (success) and once with a release whose import fails
    with the secret in its traceback: the value never shows, the failure is redacted."""
    result, failed, secret = secret_story["rotated"], secret_story["failed"], secret_story["secret"]
    assert result.returncode == 0, output(result)
    assert secret not in output(result, tail=None)
    text = output(failed, tail=None)
    assert failed.returncode != 0
    assert "does not load" in text and "RuntimeError: cannot connect with <redacted>" in text, output(failed)
    assert secret not in text
    assert secret_story["restored"].returncode == 0, output(secret_story["restored"])
