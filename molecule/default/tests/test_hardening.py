"""default scenario: the sandbox, the strict Nginx and the faults the stack survives.
Each test states what it tried and what it measured."""
import re
import subprocess
import time

import pytest
from conftest import APP, UNIT
from flask_nginx_testing import start_load

EXPOSURE_BOUND = 1.5


def test_gunicorn_unit_exposure_is_within_bound(host):
    out = host.check_output(f"systemd-analyze security {UNIT}.service --no-pager")
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    print(f"systemd-analyze security {UNIT}.service: {score}")
    assert score <= EXPOSURE_BOUND


@pytest.mark.parametrize("prop, value", [
    ("User", APP), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"), ("PrivateDevices", "yes"), ("CapabilityBoundingSet", ""),
    ("MemoryDenyWriteExecute", "yes"),
    ("StateDirectory", APP), ("Restart", "on-failure"), ("KillMode", "mixed"),
])
def test_gunicorn_unit_sandbox_setting(host, prop, value):
    assert host.check_output(f"systemctl show -p {prop} --value {UNIT}.service") == value


def test_gunicorn_unit_allows_only_ip_and_unix_sockets(host):
    families = host.check_output(f"systemctl show -p RestrictAddressFamilies --value {UNIT}.service")
    assert sorted(families.split()) == ["AF_INET", "AF_INET6", "AF_UNIX"]


def worker_pid(host):
    master = host.check_output(f"systemctl show -p MainPID --value {UNIT}.service")
    return host.check_output(f"pgrep -P {master} | head -1")


@pytest.mark.parametrize("path, writable", [
    (f"/var/lib/{APP}/probe", True),
    (f"/opt/{APP}/current/app/probe", False),
    ("/etc/probe", False),
    ("/var/log/probe", False),
    ("/var/tmp/probe", True),  # PrivateTmp: writable, but the app's own
    ("/usr/local/probe", False),
])
def test_app_writes_only_where_it_must(host, path, writable):
    """Inside the running worker's own mount namespace, as the app user."""
    result = host.run(f"nsenter --target {worker_pid(host)} --mount -- "
                      f"setpriv --reuid={APP} --regid={APP} --init-groups sh -c 'echo x > {path} && rm {path}'")
    assert (result.rc == 0) == writable, result.stderr


def test_app_stores_notes_in_its_state_directory(http, host):
    status, _, body = http.get("/api/notes", "-X", "POST", "--data-binary", "note from the tests")
    assert status == 201, body
    saved = re.search(r'"saved":"([^"]+)"', body.replace(" ", "")).group(1)
    note = host.file(f"/var/lib/{APP}/{saved}")
    assert note.user == APP and note.content_string == "note from the tests"


@pytest.mark.parametrize("header, value", [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-frame-options", "SAMEORIGIN"),
    ("content-security-policy", "frame-ancestors 'self'"),
    ("server", "nginx"),
])
def test_response_security_headers(http, header, value):
    for path in ("/", "/static/style.css"):
        _, headers, _ = http.get(path, body=False)
        assert headers[header] == value, f"{path}: {headers}"


@pytest.mark.parametrize("path", ["/.git/config", "/.env", "/app.py~", "/static/style.css.bak",
                                  "/static/.hidden", "/config.php.swp"])
def test_hidden_and_backup_files_are_refused(http, path):
    assert http.get(path, body=False)[0] == 404


def test_app_down_shows_a_friendly_page_without_internals(host, http):
    host.run_expect([0], f"systemctl stop {UNIT}.socket {UNIT}.service")
    try:
        status, headers, body = http.get("/")
    finally:
        host.run_expect([0], f"systemctl start {UNIT}.socket {UNIT}.service")
    assert status == 502
    assert "Back in a moment" in body
    assert "nginx" not in body.lower() and "gunicorn" not in body.lower()


@pytest.mark.quiet
def test_sigkill_of_the_gunicorn_master_is_survived(host, http):
    """SIGKILL to the master: systemd restarts the service (Restart=on-failure)
    while its socket keeps accepting. Bound: the first request after the kill
    succeeds within 10 s, and so do the next 20."""
    before = host.check_output(f"systemctl show -p MainPID --value {UNIT}.service")
    host.run_expect([0], f"kill -KILL {before}")
    started = time.time()
    status, _, _ = http.get("/healthz", "--max-time", "10")
    took = time.time() - started
    print(f"first request after SIGKILL answered in {took:.2f} s")
    assert status == 200 and took <= 10
    assert all(http.get("/healthz")[0] == 200 for _ in range(20))
    after = host.check_output(f"systemctl show -p MainPID --value {UNIT}.service")
    assert after not in ("0", before)


@pytest.mark.quiet
def test_nginx_reload_under_load_drops_no_request(host):
    """8 clients for 6 s; Nginx reloaded 3 times meanwhile. Measured: failed requests == 0."""
    results = start_load(host, 6, "nginx-reload-load")
    for _ in range(3):
        time.sleep(1.5)
        host.run_expect([0], "systemctl reload nginx")
    ok, failed = results()  # once the load is over
    print(f"nginx reloads under load: {ok} ok, {failed} failed")
    assert ok > 100 and failed == 0


def test_host_restart_brings_every_service_back(host, http):
    """The container is restarted (systemd shuts down, boots again): units are
    enabled, come back, and the sites answer."""
    name = host.backend.get_hostname()
    subprocess.run(["docker", "restart", "-t", "20", name], check=True, capture_output=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        state = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"],
                               capture_output=True, text=True).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    for unit in (f"{UNIT}.socket", "gunicorn-blog.socket", "nginx.service"):
        assert host.service(unit).is_running, unit
    assert http.get("/healthz")[0] == 200
    assert http.get("/healthz", "-k", host_header="blog.test", scheme="https")[0] == 200


@pytest.mark.parametrize("app", ["shop", "blog", "plain"])
@pytest.mark.parametrize("log", ["access.log", "error.log"])
def test_site_logs_are_never_world_readable(host, app, log):
    """Full URIs (reset tokens, OAuth codes) are in the access log: from the first line on,
    Nginx's user and adm alone read the site's logs (logrotate's new files are made the same)."""
    path = host.file(f"/var/log/nginx/{app}/{log}")
    assert path.exists
    assert (path.mode, path.user, path.group) == (0o640, "www-data", "adm")
