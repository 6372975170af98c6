"""default scenario: a real Flask app around the requests. The shop runs a migration
before each new release goes live, a background worker, a scheduled job, a WebSocket
echo, Server-Sent Events and an upload path (molecule/default/shop.yml); maintenance
mode is switched under load."""
import json
import os
import shlex
import shutil
import subprocess
import time

import pytest
from conftest import APP, UNIT, Http, read_journal
from flask_nginx_testing import output, run_playbook, scenario_file
from http_load import Load

testinfra_hosts = ["ansible://flask-nginx-default-debian12"]

# A WebSocket client in the host's own Python (RFC 6455: handshake, one masked text
# frame, the echoed frame back), over HTTP or HTTPS through Nginx.
WS_CLIENT = r"""
import base64, os, socket, ssl, sys
scheme, name, path, text = sys.argv[1:5]
port = 443 if scheme == "https" else 80
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
if scheme == "https":
    context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
    sock = context.wrap_socket(sock, server_hostname=name)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(1)
print(head.split(b"\r\n")[0].decode())
payload, mask = text.encode(), os.urandom(4)
sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
first, second = sock.recv(1), sock.recv(1)
length = second[0] & 0x7F
data = b""
while len(data) < length:
    data += sock.recv(length - len(data))
print(data.decode())
"""

# An SSE client: prints the seconds since the request at which each event arrived.
SSE_CLIENT = r"""
import http.client, json, sys, time
conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=20)
start = time.time()
conn.request("GET", sys.argv[1], headers={"Host": "shop.test", "Accept-Encoding": "gzip"})
response = conn.getresponse()
arrivals = []
while True:
    line = response.readline()
    if not line:
        break
    if line.startswith(b"data:"):
        arrivals.append(round(time.time() - start, 2))
print(json.dumps({"status": response.status, "type": response.getheader("Content-Type"), "arrivals": arrivals}))
"""


def py(host, script, *args):
    return host.check_output(f"python3 -c {shlex.quote(script)} {shlex.join(args)}")


def shop(*args):
    return run_playbook(scenario_file("shop.yml"), *args)


def current_release(host):
    return os.path.basename(host.file(f"/opt/{APP}/current").linked_to)


@pytest.fixture
def variant(tmp_path, app_source):
    """A copy of the sample app with another VERSION: a new release."""
    def make(version):
        source = tmp_path / f"v{version}"
        shutil.copytree(app_source, source, ignore=shutil.ignore_patterns("__pycache__"))
        (source / "VERSION").write_text(f"{version}\n")
        return str(source)
    return make


def test_migration_ran_before_the_release_went_live(http):
    """The first request of the release needs the migrated schema, and gets it."""
    assert http.json("/api/schema")["version"] >= 2
    assert http.get("/api/greeting")[0] == 200


def test_pre_switch_commands_reach_the_shell_as_written_with_settings_off_its_command_line(host):
    """shop.yml's pre-switch commands use shell variables (`x=1; test "${x}" = 1` must pass)
    and name SECRET_KEY; the shell that ran them wrote down its own command line, which
    must hold the name, never the value (systemd expands ${VAR} in command lines)."""
    cmdline = host.file(f"/var/lib/{APP}/pre-switch-cmdline")
    assert cmdline.exists, "the pre-switch commands did not all run"
    text = cmdline.content_string
    assert ': "${SECRET_KEY}"' in text, text
    assert "s3cr3t-Molecule-Value" not in text, text


def test_failing_migration_keeps_the_previous_release_and_redacts_secrets(host, http, variant):
    limit = ("--limit", host.backend.get_hostname())
    before = current_release(host)
    env = {"APP_NAME": "shop", "APP_VERSION": "1", "SECRET_KEY": "s3cr3t-Molecule-Value", "APP_FAIL_MIGRATION": "1"}
    try:
        result = shop("-e", json.dumps({"flask_nginx_app_src": variant(21), "flask_nginx_app_env": env}), *limit)
        text = output(result, tail=None)
        assert result.returncode != 0
        assert "a pre-switch command of release" in text and "keeps serving" in text, output(result)
        assert "<redacted>" in text and "s3cr3t-Molecule-Value" not in text, output(result)
        assert current_release(host) == before
        assert http.json("/api/info")["version"] == "1"
    finally:
        restored = shop(*limit)
        assert restored.returncode == 0, output(restored)


@pytest.fixture(scope="module")
def variant_story(host):
    """One converge with other settings (no background worker, Gunicorn's gevent worker
    class, metrics off: the shop is the only app of the host with metrics), then the
    configured ones again: what each showed."""
    limit, http = ("--limit", host.backend.get_hostname()), Http(host)
    unit = f"{APP}-worker-jobs@1.service"
    seen = {"unit": unit, "running before": host.service(unit).is_running,
            "since": host.check_output("date '+%Y-%m-%d %H:%M:%S'")}
    seen["result"] = shop("-e", json.dumps({"flask_nginx_workers": [], "flask_nginx_gunicorn": {"worker_class": "gevent"},
                                            "flask_nginx_metrics": False}), *limit)
    exporter, stub_status = "prometheus-nginx-exporter.service", "/etc/nginx/conf.d/flask-nginx-stub-status.conf"
    seen["metrics off"] = {"exporter": host.service(exporter).is_running, "enabled": host.service(exporter).is_enabled,
                           "stub_status": host.file(stub_status).exists,
                           "answers": host.run("curl -s -o /dev/null --max-time 3 http://127.0.0.1:9113/metrics").rc == 0}
    seen["running"] = host.service(unit).is_running
    seen["template"] = host.file(f"/etc/systemd/system/{APP}-worker-jobs@.service").exists
    seen["wanted"] = host.file(f"/etc/systemd/system/multi-user.target.wants/{unit}").exists
    seen["app"] = http.json("/api/info")["app"]
    seen["journal"] = read_journal(host, f"{UNIT}.service", lambda text: "Using worker: gevent" in text,
                                   f"--since '{seen['since']}'")
    seen["marker"] = host.file(f"/opt/{APP}/gunicorn/.flask-nginx-gunicorn-version").content_string.strip()
    seen["restored"] = shop(*limit)
    seen["running after"] = host.service(unit).is_running
    seen["metrics on"] = {"exporter": host.service(exporter).is_running, "stub_status": host.file(stub_status).exists}
    seen["app after"] = http.json("/api/info")["app"]
    return seen


def test_removing_a_worker_removes_its_units(variant_story):
    assert variant_story["running before"]
    assert variant_story["result"].returncode == 0, output(variant_story["result"])
    assert not variant_story["running"]
    assert not variant_story["template"]
    assert not variant_story["wanted"]
    assert variant_story["restored"].returncode == 0, output(variant_story["restored"])
    assert variant_story["running after"]


def test_metrics_turned_off_by_the_hosts_last_app_take_the_exporter_and_stub_status_away(variant_story):
    """Nothing listens for metrics any more once no app of the host wants them, and turning
    them on again brings them back."""
    assert variant_story["result"].returncode == 0, output(variant_story["result"])
    assert variant_story["metrics off"] == {"exporter": False, "enabled": False, "stub_status": False, "answers": False}
    assert variant_story["restored"].returncode == 0, output(variant_story["restored"])
    assert variant_story["metrics on"] == {"exporter": True, "stub_status": True}


def test_the_gevent_worker_class_serves_the_app(variant_story):
    """flask_nginx_gunicorn.worker_class: gevent. Gunicorn's gevent worker imports `packaging`,
    which only Gunicorn's `gevent` extra brings: without it the unit never starts."""
    assert variant_story["result"].returncode == 0, output(variant_story["result"])
    assert variant_story["app"] == APP
    assert "Using worker: gevent" in variant_story["journal"], variant_story["journal"]
    assert variant_story["marker"] == "gunicorn[gevent]==27.0.1 gevent==26.9.0"
    assert variant_story["restored"].returncode == 0, output(variant_story["restored"])
    assert variant_story["app after"] == APP


def test_worker_runs_as_the_app_in_its_sandbox(host):
    unit = f"{APP}-worker-jobs@1.service"
    for prop, value in [("User", APP), ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                        ("StateDirectory", APP), ("PrivateTmp", "yes")]:
        assert host.check_output(f"systemctl show -p {prop} --value {unit}") == value


def test_timer_has_its_schedule_and_its_job_runs(host, http):
    timer = f"{APP}-job-tick.timer"
    assert host.service(timer).is_enabled and host.service(timer).is_running
    assert "*-*-* *:00/15:00" in host.check_output(f"systemctl show -p TimersCalendar --value {timer}")
    assert host.check_output(f"systemctl show -p Persistent --value {timer}") == "yes"
    for _ in range(3):  # again if the timer itself ran the job meanwhile (every quarter of an hour)
        triggered = host.check_output(f"systemctl show -p LastTriggerUSec --value {timer}")
        before = http.json("/api/ticks")["ticks"]
        host.run_expect([0], f"systemctl start {APP}-job-tick.service")
        after = http.json("/api/ticks")["ticks"]
        if host.check_output(f"systemctl show -p LastTriggerUSec --value {timer}") == triggered:
            break
    assert after == before + 1


@pytest.mark.parametrize("scheme, name", [("http", "shop.test"), ("https", "blog.test")])
def test_websocket_echo_through_nginx(host, scheme, name):
    lines = py(host, WS_CLIENT, scheme, name, "/ws/echo", "hello through nginx").splitlines()
    assert lines[0].startswith("HTTP/1.1 101"), lines
    assert lines[-1].endswith("hello through nginx"), lines


def test_server_sent_events_arrive_one_at_a_time(host):
    result = json.loads(py(host, SSE_CLIENT, "/api/stream"))
    assert result["status"] == 200 and result["type"].startswith("text/event-stream"), result
    arrivals = result["arrivals"]
    assert len(arrivals) >= 3, result
    # The first event came while the stream was still open, well before the last one.
    assert arrivals[-1] - arrivals[0] >= 1.0, result


def test_upload_path_takes_a_larger_body_than_elsewhere(host, http):
    host.run_expect([0], "head -c 20000000 /dev/zero > /tmp/upload.bin")
    status, _, body = http.get("/api/upload", "-X", "POST", "-H", "Expect:", "--data-binary", "@/tmp/upload.bin")
    assert status == 200 and json.loads(body)["bytes"] == 20000000, body
    status = http.get("/api/notes", "-X", "POST", "-H", "Expect:", "--data-binary", "@/tmp/upload.bin", body=False)[0]
    assert status == 413


@pytest.mark.quiet
def test_maintenance_on_and_off_under_load(host, http):
    """Clients keep requesting while maintenance is switched on and off: no connection
    error, no 5xx except the intended 503s, and static files stay served."""
    port = int(subprocess.run(["docker", "port", host.backend.get_hostname(), "80/tcp"], capture_output=True,
                              text=True, check=True).stdout.split()[0].rsplit(":", 1)[1])
    limit = ("--limit", host.backend.get_hostname())
    try:
        # About 200 requests a second in all: steady traffic through both switches, and CPU
        # left for the two converges (unpaced clients took the two cores from them).
        with Load(port, clients=4, keepalive=True, seconds=240, pause=0.02) as load:
            time.sleep(2)
            on = shop("-e", '{"flask_nginx_maintenance": true}', *limit)
            assert on.returncode == 0, output(on)
            status, headers, body = http.get("/api/info")
            assert status == 503 and "maintenance" in body.lower() and headers.get("retry-after") == "300"
            assert http.get("/static/style.css", body=False)[0] == 200
            assert host.service(f"gunicorn-{APP}.service").is_running
            time.sleep(2)
            off = shop(*limit)
            assert off.returncode == 0, output(off)
            time.sleep(2)
            # The clients were still at it when maintenance went off (their time had not run out).
            assert time.time() < load.deadline, "the load ended before both switches were done"
    finally:
        if http.get("/healthz")[0] != 200:
            shop(*limit)
    errors = set(map(str, load.errors))
    print(f"maintenance under load: {load.ok} ok, {load.failed} not 200: {sorted(errors)}")
    assert load.ok > 50
    assert errors == {"503"}, errors
    assert http.json("/api/info")["version"] == "1"
