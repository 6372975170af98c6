"""default scenario: one host, Gunicorn under systemd on a unix socket, Nginx in front."""
import re
import time

import pytest
from conftest import APP, SERVER_NAME, UNIT, wait_for
from flask_nginx_testing import output, run_playbook, scenario_file, start_load


@pytest.mark.parametrize("unit", [f"{UNIT}.socket", f"{UNIT}.service", "nginx.service"])
def test_units_are_enabled_and_running(host, unit):
    service = host.service(unit)
    assert service.is_enabled
    assert service.is_running


def test_gunicorn_runs_as_the_app_user_with_workers(host):
    master = host.run(f"systemctl show -p MainPID --value {UNIT}.service").stdout.strip()
    assert host.run(f"ps -o user= -p {master}").stdout.strip() == APP
    workers = host.run(f"pgrep -P {master}").stdout.split()
    nproc = int(host.run("nproc").stdout)
    assert len(workers) == min(2 * nproc + 1, 12)


def test_socket_is_reachable_by_nginx_only(host):
    sock = host.file(f"/run/{UNIT}.sock")
    assert sock.is_socket
    assert sock.user == "root"
    assert sock.group == "www-data"
    assert sock.mode == 0o660


def test_code_belongs_to_root_and_the_app_user_cannot_change_it(host):
    current = host.file(f"/opt/{APP}/current")
    assert current.is_symlink
    code = host.file(f"/opt/{APP}/current/app/app.py")
    assert code.user == "root"
    assert code.mode & 0o022 == 0
    denied = host.run(f"sudo -u {APP} sh -c 'echo x >> /opt/{APP}/current/app/app.py'")
    assert denied.rc != 0


def test_environment_file_is_root_only(host):
    env = host.file(f"/etc/flask-nginx/{APP}/app.env")
    assert env.user == "root"
    assert env.mode == 0o600
    assert 'SECRET_KEY="s3cr3t-Molecule-Value"' in env.content_string


def test_home_page_is_served_through_nginx(http):
    status, headers, body = http.get("/")
    assert status == 200
    assert "text/html" in headers["content-type"]
    assert "/static/style.css" in body and "/static/app.js" in body


def test_healthz_answers_ok(http):
    assert http.json("/healthz")["status"] == "ok"


def test_app_sees_the_real_client_and_scheme_not_spoofed_headers(http):
    info = http.json("/api/info", "-H", "X-Forwarded-For: 203.0.113.66",
                     "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Host: evil.test")
    assert info["client_ip"] == "127.0.0.1"
    assert info["scheme"] == "http"
    assert info["server_name"] == SERVER_NAME
    assert info["app"] == "shop"


def test_static_files_have_cache_headers_and_gzip(host, http):
    status, headers, _ = http.get("/static/style.css", "-H", "Accept-Encoding: gzip", body=False)
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    # The precompressed file itself (gzip_static), not gzip on the fly: on-the-fly gzip
    # streams the answer without a length; this one has the .gz file's length.
    precompressed = host.file(f"/opt/{APP}/current/app/static/style.css.gz")
    assert precompressed.exists
    assert int(headers["content-length"]) == precompressed.size, headers
    assert re.search(r"max-age=\d+", headers["cache-control"])
    assert "expires" in headers
    status, headers, body = http.get("/static/style.css")
    assert status == 200 and "content-encoding" not in headers
    assert len(body) > 50_000


def test_static_files_are_served_by_nginx_even_with_gunicorn_stopped(host, http):
    host.run_expect([0], f"systemctl stop {UNIT}.socket {UNIT}.service")
    try:
        assert http.get("/static/app.js")[0] == 200
        assert http.get("/api/info")[0] == 502
    finally:
        host.run_expect([0], f"systemctl start {UNIT}.socket {UNIT}.service")
    assert http.get("/api/info")[0] == 200


def test_unknown_host_name_is_refused(host, http):
    result = http.request("/", host_header="unknown.example")
    assert result.rc == 52, "expected an empty reply (444) for an unknown Host"


def test_nginx_logs_per_site(host, http):
    http.get("/healthz")
    host.run("systemctl reload nginx")  # flushes the buffered access log (as the old workers exit)
    assert wait_for(lambda: host.file(f"/var/log/nginx/{APP}/access.log").contains("/healthz"), 30)


def test_reload_serves_a_new_release_without_restarting_gunicorn(host, http):
    """A new release (code + venv) goes live through SIGHUP: same master, new workers."""
    master = host.run(f"systemctl show -p MainPID --value {UNIT}.service").stdout.strip()
    old = host.file(f"/opt/{APP}/current").linked_to
    new = f"/opt/{APP}/releases/reload-test"
    host.run_expect([0], f"cp -a {old} {new} && sed -i 's/\"status\": \"ok\"/\"status\": \"ok\", \"release\": \"reload-test\"/; s/status=\"ok\"/status=\"ok\", release=\"reload-test\"/' {new}/app/app.py")
    try:
        host.run_expect([0], f"ln -sfn {new} /opt/{APP}/current.tmp && mv -T /opt/{APP}/current.tmp /opt/{APP}/current")
        host.run_expect([0], f"systemctl reload {UNIT}.service")
        # New workers start at once; old ones finish their requests, and a connection
        # Nginx keeps alive to one of them may still bring it a request for a moment
        # (Gunicorn's keep-alive, 2 s). So: until five answers in a row come from the new
        # release. Allow for a slow, busy machine.
        deadline, answers = time.time() + 30, []
        while time.time() < deadline and answers[-5:] != ["reload-test"] * 5:
            answers.append(http.json("/healthz").get("release"))
            time.sleep(0.1)
        journal = host.run(f"journalctl -u {UNIT}.service -n 30 --no-pager").stdout
        assert answers[-5:] == ["reload-test"] * 5, (answers[-10:], journal)
        assert host.run(f"systemctl show -p MainPID --value {UNIT}.service").stdout.strip() == master
    finally:
        host.run(f"ln -sfn {old} /opt/{APP}/current.tmp && mv -T /opt/{APP}/current.tmp /opt/{APP}/current")
        # As the role does after a switch: the background worker restarts onto `current` (it was
        # started before the link changed, so the next run would restart it anyway).
        host.run(f"systemctl reload {UNIT}.service; systemctl restart {APP}-worker-jobs@1.service; rm -rf {new}")


@pytest.mark.quiet
@pytest.mark.parametrize("action", ["reload", "restart"])
def test_gunicorn_reload_and_restart_drop_no_requests(host, action):
    """8 clients for 6 s while Gunicorn is reloaded (SIGHUP) or restarted twice: the
    systemd socket queues connections, so no request may fail."""
    results = start_load(host, 6, f"gunicorn-{action}-load")
    time.sleep(1.5)
    host.run_expect([0], f"systemctl {action} {UNIT}.service")
    time.sleep(2)
    host.run_expect([0], f"systemctl {action} {UNIT}.service")
    ok, failed = results()  # once the load is over
    assert ok > 100
    assert failed == 0, (f"{failed} of {ok + failed} requests failed during {action}: "
                         f"{results.result.get('errors', [])[:5]}")


@pytest.fixture(scope="module")
def check_mode_run():
    """One --check --diff run of the converge on every host at once (each host's
    test reads its own recap)."""
    return run_playbook(scenario_file("converge.yml"), "--check", "--diff",
                        env={"ANSIBLE_DISPLAY_OK_HOSTS": "false", "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false"})


def test_check_mode_on_the_converged_host_reports_no_change(host, check_mode_run):
    name = host.backend.get_hostname()
    result = check_mode_run
    assert result.returncode == 0, output(result)
    recap = re.search(rf"^{re.escape(name)}\s*:.*$", result.stdout, re.M)
    assert recap, result.stdout[-3000:]
    recap = recap.group(0)
    # Only changed (and failed) tasks are shown: the output names them.
    assert "changed=0" in recap and "failed=0" in recap, result.stdout[-4000:]
