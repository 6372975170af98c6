"""Logs, request ids, log rotation and metrics of the shop (molecule/default/shop.yml
turns flask_nginx_metrics on). Requests go to 127.0.0.1 inside the host, except the
checks that the metrics are not served on the host's own public address."""
import json
import re
import shlex
import uuid

import pytest

from conftest import APP, SERVER_NAME, UNIT, read_journal, wait_for

ACCESS_LOG = f"/var/log/nginx/{APP}/access.log"
FIELDS = {"time", "request_id", "remote_addr", "method", "uri", "status", "bytes_sent", "request_time",
          "upstream_response_time", "upstream_addr", "host", "referrer", "user_agent"}

# A raw HTTP request (bytes as they are, no client escaping) to Nginx on 127.0.0.1:80;
# prints the response's X-Request-ID.
RAW_REQUEST = r'''
import socket, sys
target, agent = sys.argv[1].encode("utf-8", "surrogateescape"), sys.argv[2].encode("utf-8", "surrogateescape")
s = socket.create_connection(("127.0.0.1", 80), timeout=10)
s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: %s\r\nUser-Agent: " + agent + b"\r\nReferer: http://x/\"q\"\r\nConnection: close\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
print(next((l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("x-request-id:")), ""))
''' % SERVER_NAME


def log_lines(host, path=ACCESS_LOG):
    """The lines of an access log, decoded as strict UTF-8: every line must be."""
    return host.file(path).content.decode("utf-8").splitlines()


def flushed_lines(host, until, path=ACCESS_LOG):
    """The lines of an access log after Nginx wrote its buffer: a reload flushes it, as
    the old workers exit (soon, not at once), so read until UNTIL(lines) holds (or 30 s)."""
    host.run_expect([0], "systemctl reload nginx")
    return wait_for(lambda: log_lines(host, path), 30, until)


def logged(request_id):
    """For flushed_lines: until the line of this request is there."""
    return lambda lines: any(request_id in line for line in lines)


def log_entry(host, request_id):
    entries = [json.loads(line) for line in flushed_lines(host, logged(request_id)) if request_id in line]
    assert len(entries) == 1, f"{request_id}: {entries}"
    return entries[0]


def public_address(host):
    return host.check_output("ip -4 route get 1.1.1.1 | sed -n 's/.* src \\([0-9.]*\\).*/\\1/p'")


def test_every_access_log_line_is_json_with_every_field(host, http):
    request_id = http.get("/api/info")[1]["x-request-id"]
    http.get("/static/style.css")
    lines = flushed_lines(host, logged(request_id))
    assert lines
    for line in lines[-50:]:
        entry = json.loads(line)
        assert FIELDS <= set(entry), line
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\Z", entry["time"]), entry


@pytest.mark.parametrize("target, agent", [
    ('/api/info?q="quoted"&b=back\\slash', 'agent "with quotes" and \\backslash\\'),
    ("/api/info?name=caf\u00e9-\u00fcber-\u65e5\u672c", "Mozilla/5.0 (Ren\u00e9's \u00e9t\u00e9 browser)"),
], ids=["quotes-backslashes", "non-ascii"])
def test_access_log_line_of_an_odd_request_is_valid_json(host, target, agent):
    host.run_expect([0], f"cat > /tmp/raw_request.py <<'EOF'\n{RAW_REQUEST}\nEOF")
    request_id = host.check_output(f"python3 /tmp/raw_request.py {shlex.quote(target)} {shlex.quote(agent)}")
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id
    entry = log_entry(host, request_id)
    assert entry["uri"] == target
    assert entry["user_agent"] == agent
    assert entry["referrer"] == 'http://x/"q"'
    assert entry["method"] == "GET" and entry["host"] == SERVER_NAME
    assert isinstance(entry["status"], int) and isinstance(entry["request_time"], (int, float))


def test_request_id_is_in_the_response_nginx_log_and_gunicorn_journal(host, http):
    status, headers, _ = http.get("/api/info")
    assert status == 200
    request_id = headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), headers
    entry = log_entry(host, request_id)
    assert entry["uri"] == "/api/info" and entry["status"] == 200 and entry["upstream_addr"].startswith("unix:")
    journal = read_journal(host, f"{UNIT}.service", lambda text: request_id in text)
    line = next((line for line in journal.splitlines() if request_id in line), None)
    assert line and "/api/info" in line, journal[-2000:]


BURST_LINES = 80000


def test_journald_keeps_every_line_of_a_busy_gunicorn(host, http):
    """journald's default rate limit (10000 lines in 30 s, scaled by free disk space) drops a
    busy site's lines. One request makes Gunicorn's own app (the plain app, under the role's
    unit and logging) write BURST_LINES lines at once, more than that default lets through,
    and every one is in the journal, with the request's id."""
    shown = host.check_output(f"systemctl show -p LogRateLimitIntervalUSec -p LogRateLimitBurst {PLAIN_UNIT}")
    settings = dict(line.split("=", 1) for line in shown.splitlines())
    assert settings == {"LogRateLimitIntervalUSec": "1s", "LogRateLimitBurst": "100000"}, shown
    word = f"burst{uuid.uuid4().hex[:8]}"  # a new word: only this run's lines
    status, headers, body = http.get(f"/plain/log/{word}/{BURST_LINES}", "--max-time", "60", host_header="plain.test")
    assert status == 200, body
    line = rf"^request_id={headers['x-request-id']} WARNING \[plain\.work\] {word} [0-9]+$"
    count = wait_for(lambda: int(host.check_output(
        f"journalctl -u {PLAIN_UNIT} -o cat --no-pager | grep -cE '{line}' || true")), 30, lambda n: n >= BURST_LINES)
    assert count == BURST_LINES


def test_app_logs_the_request_id(host, http):
    status, headers, _ = http.get("/api/notes", "-X", "POST", "--data-binary", "observability note")
    assert status == 201
    saved = rf"^request_id={headers['x-request-id']} INFO \[app\] note \S+ saved$"
    journal = read_journal(host, f"{UNIT}.service", lambda text: re.search(saved, text, re.M))
    assert re.search(saved, journal, re.M), journal[-2000:]


# "plain" (molecule/default/plain_app) knows nothing about the role and configures no logging;
# it runs with the role's defaults, under the URL prefix /plain.
PLAIN_UNIT = "gunicorn-plain.service"


def test_an_app_without_logging_config_logs_with_the_id_of_its_request(host, http):
    """app.logger and a module's logging.getLogger(...) lines written while handling a
    request reach the journal, each with that request's id."""
    status, headers, body = http.get("/plain/log/hello", host_header="plain.test")
    assert status == 200, body
    request_id = headers["x-request-id"]
    wanted = [rf"^request_id={request_id} WARNING \[app\] app.logger says hello$",
              rf"^request_id={request_id} WARNING \[plain.work\] a module's logger says hello$"]
    journal = read_journal(host, PLAIN_UNIT, lambda text: all(re.search(w, text, re.M) for w in wanted))
    for line in wanted:
        assert re.search(line, journal, re.M), journal[-2000:]


def test_a_line_written_outside_a_request_carries_no_request_id(host):
    journal = read_journal(host, PLAIN_UNIT, lambda text: "plain app imported" in text, "--no-tail")
    lines = [line for line in journal.splitlines() if "plain app imported" in line]
    assert lines and all(line == "WARNING [plain.work] plain app imported, outside any request" for line in lines), lines


def test_gunicorn_writes_no_access_line_by_default(host, http):
    """flask_nginx_gunicorn_access_log is false by default: Nginx's access log is the record
    of every request, the journal has none of Gunicorn's access lines."""
    _, headers, _ = http.get("/plain/healthz", host_header="plain.test")
    request_id = headers["x-request-id"]
    http.get("/plain/log/after", host_header="plain.test")  # a later line: the journal has caught up
    journal = read_journal(host, PLAIN_UNIT, lambda text: "app.logger says after" in text)
    assert "app.logger says after" in journal, journal[-2000:]
    assert request_id not in journal and '"GET /plain/healthz' not in journal, journal[-2000:]


def test_client_sent_request_id_is_ignored_from_an_untrusted_address(host, http):
    _, headers, _ = http.get("/api/info", "-H", "X-Request-ID: forged-id-123")
    assert headers["x-request-id"] != "forged-id-123"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"]), headers
    lines = flushed_lines(host, logged(headers["x-request-id"]))
    assert not [line for line in lines[-20:] if "forged-id-123" in line]


ROTATION_LOAD = r'''
import http.client, subprocess, sys, threading, time
token, seconds = sys.argv[1], float(sys.argv[2])
ok = [0]
lock = threading.Lock()
def client():
    deadline = time.time() + seconds
    while time.time() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=10)
        conn.request("GET", "/healthz?rotation=" + token, headers={"Host": "%s"})
        if conn.getresponse().status == 200:
            with lock:
                ok[0] += 1
        conn.close()
threads = [threading.Thread(target=client) for _ in range(4)]
[t.start() for t in threads]
time.sleep(seconds / 2)
rotated = subprocess.run(["logrotate", "-f", "/etc/logrotate.d/flask-nginx-%s"], capture_output=True, text=True)
[t.join() for t in threads]
print(ok[0], rotated.returncode, rotated.stderr.replace("\n", " "))
''' % (SERVER_NAME, APP)


def test_forced_rotation_under_load_loses_no_line_and_nginx_writes_the_new_file(host):
    assert host.package("logrotate").is_installed
    token = uuid.uuid4().hex
    host.run_expect([0], f"cat > /tmp/rotation_load.py <<'EOF'\n{ROTATION_LOAD}\nEOF")
    sent, rc, errors = host.check_output(f"python3 /tmp/rotation_load.py {token} 6").split(" ", 2)
    assert rc == "0", errors
    # A reload flushes the buffers; the old workers write them as they exit, to either file.
    host.run_expect([0], "systemctl reload nginx")
    old, new = wait_for(lambda: ([line for line in log_lines(host, ACCESS_LOG + ".1") if token in line],
                                 [line for line in log_lines(host) if token in line]),
                        30, lambda found: len(found[0]) + len(found[1]) >= int(sent))
    assert old, "no line in the rotated file"
    assert len(old) + len(new) == int(sent), (len(old), len(new), sent)
    # A new request lands in the new file (buffered for at most flush=5s), no reload needed.
    after = uuid.uuid4().hex
    host.run_expect([0], f"curl -sS -o /dev/null -H 'Host: {SERVER_NAME}' 'http://127.0.0.1/healthz?after={after}'")
    assert wait_for(lambda: host.file(ACCESS_LOG).contains(after), 30)  # 5 s, on a busy host more
    assert not host.file(ACCESS_LOG + ".1").contains(after)


def exporter_requests(host):
    metrics = host.check_output("curl -sS --max-time 5 http://127.0.0.1:9113/metrics")
    match = re.search(r"^nginx_http_requests_total(?:\{[^}]*\})? (\S+)$", metrics, re.M)
    assert match, metrics[-2000:]
    return float(match.group(1))


def test_exporter_request_counter_grows_with_requests(host, http):
    before = exporter_requests(host)
    for _ in range(20):
        http.get("/healthz")
    assert exporter_requests(host) >= before + 20


@pytest.mark.parametrize("port", [9113, 8089])
def test_metrics_and_stub_status_do_not_answer_on_the_public_address(host, port):
    address = public_address(host)
    assert address and not address.startswith("127.")
    result = host.run(f"curl -sS --max-time 5 -o /dev/null http://{address}:{port}/")
    assert result.rc != 0, f"port {port} answers on {address}"
    listening = host.check_output(f"ss -ltnH '( sport = :{port} )'")
    assert listening and all(" 127.0.0.1:" in line for line in listening.splitlines()), listening


def test_stub_status_answers_on_loopback(host):
    assert "Active connections" in host.check_output("curl -sS --max-time 5 http://127.0.0.1:8089/stub_status")


@pytest.mark.parametrize("upgrade", ["h2c", "TLS/1.0", "websocket2"])
def test_a_websocket_location_passes_no_other_upgrade_to_gunicorn(http, upgrade):
    """Only a WebSocket upgrade goes through a WebSocket location: another Upgrade token
    (h2c smuggling) reaches Gunicorn as neither Upgrade nor Connection: upgrade."""
    seen = http.json("/plain/ws/headers", "-H", f"Upgrade: {upgrade}", "-H", "Connection: Upgrade, HTTP2-Settings",
                     host_header="plain.test")
    assert seen["upgrade"] is None, seen
    assert "upgrade" not in (seen["connection"] or "").lower(), seen
