"""cluster scenario: a load balancer in front of two app hosts.

Requests come from this machine through the load balancer's port published on
127.0.0.1; load runs are bounded in time."""
import json
import re
import shutil
import subprocess
import time
import http.client

import pytest
from flask_nginx_testing import output, project_file, remote, run_playbook
from http_load import Load

testinfra_hosts = ["ansible://flask-nginx-cluster-lb"]

LB = "flask-nginx-cluster-lb"
APPS = ["flask-nginx-cluster-app1", "flask-nginx-cluster-app2"]


@pytest.fixture(scope="module")
def lb_port():
    out = subprocess.run(["docker", "port", LB, "80/tcp"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0].rsplit(":", 1)[1])


def get(port, path="/api/info", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "shop.test", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_app_hosts_run_gunicorn_on_their_private_address_without_nginx():
    for name in APPS:
        app = remote(name)
        address = app.check_output("hostname -I").split()[0]
        assert app.socket(f"tcp://{address}:8000").is_listening
        assert not app.socket("tcp://0.0.0.0:8000").is_listening
        assert not app.package("nginx").is_installed


def test_the_load_balancer_holds_the_static_files_and_no_code(host):
    """Nginx on the load balancer needs the release's static files, and it faces the Internet:
    nothing else of the app's code goes there. The app hosts have the code."""
    code = host.file("/opt/shop/current/app")
    assert code.listdir() == ["static"]
    assert host.file("/opt/shop/current/app/static").listdir()
    app = remote(APPS[0])
    assert {"app.py", "requirements.txt", "static"} <= set(app.file("/opt/shop/current/app").listdir())


def test_firewall_lets_only_the_load_balancer_reach_gunicorn(host):
    """app1's Gunicorn port answers the load balancer, and is dropped for app2."""
    app1, app2 = remote(APPS[0]), remote(APPS[1])
    address = app1.check_output("hostname -I").split()[0]
    url = f"http://{address}:8000/healthz"
    assert host.run(f"curl -fsS --max-time 5 -H 'Host: shop.test' {url}").rc == 0
    assert app2.run(f"curl -fsS --max-time 3 -H 'Host: shop.test' {url}").rc == 28  # timed out: dropped
    table = app1.check_output("nft list table inet flask_nginx")
    assert "policy drop;" in table and "tcp dport 8000 accept" in table


def test_with_the_firewall_off_only_the_load_balancer_still_reaches_gunicorn(host):
    """The socket's own access list (IPAddressAllow=, enforced by the kernel for the socket
    systemd holds): with app1's firewall stopped, app2 on the same network is still refused,
    and the load balancer and app1 itself still get answers."""
    app1, app2 = remote(APPS[0]), remote(APPS[1])
    address = app1.check_output("hostname -I").split()[0]
    url = f"http://{address}:8000/healthz"
    app1.run_expect([0], "systemctl stop flask-nginx-firewall.service")
    try:
        assert "flask_nginx" not in app1.check_output("nft list tables")
        assert app2.run(f"curl -fsS --max-time 3 -H 'Host: shop.test' {url}").rc in (7, 28), "app2 reached Gunicorn"
        assert host.run(f"curl -fsS --max-time 5 -H 'Host: shop.test' {url}").rc == 0
        assert app1.run(f"curl -fsS --max-time 5 -H 'Host: shop.test' {url}").rc == 0
    finally:
        app1.run_expect([0], "systemctl start flask-nginx-firewall.service")
    assert "policy drop;" in app1.check_output("nft list table inet flask_nginx")


def test_load_balancer_firewall_opens_the_web_port_only(host):
    table = host.check_output("nft list table inet flask_nginx")
    assert "policy drop;" in table
    assert re.search(r"tcp dport \{ 80, 443 \} accept", table), table
    assert "8000" not in table


def test_firewall_keeps_every_apps_ports_and_opens_extra_ports_to_the_fleet_only():
    """A second app on app1 (port 8001, an extra port 9100) adds its rules beside the
    first app's instead of replacing them; the extra port is open to the fleet's own
    addresses only, and SSH stays open."""
    app1 = remote(APPS[0])
    extra = json.dumps({"flask_nginx_app_name": "blog", "flask_nginx_gunicorn_port": 8001,
                        "flask_nginx_firewall_allow_tcp": [9100]})
    result = run_playbook(project_file("playbooks", "site.yml"), "--tags", "flask_nginx_firewall",
                          "-e", extra, "--limit", APPS[0])
    try:
        assert result.returncode == 0, output(result)
        table = app1.check_output("nft list table inet flask_nginx")
        assert re.search(r"tcp dport 8000 accept comment \"shop: gunicorn", table), table
        assert re.search(r"tcp dport 8001 accept comment \"blog: gunicorn", table), table
        assert re.search(r"ip saddr \{[^}]+\} tcp dport (\{ )?9100( \})? accept", table), table
        assert re.search(r"tcp dport 22 accept", table), table
    finally:
        app1.run("rm -f /etc/flask-nginx/firewall.d/blog.nft && systemctl reload flask-nginx-firewall.service")
    assert "8001" not in app1.check_output("nft list table inet flask_nginx")


def test_load_balancer_spreads_requests_over_both_app_hosts(lb_port):
    hosts = {json.loads(get(lb_port)[1])["host"] for _ in range(30)}
    assert hosts == set(APPS)


def test_app_sees_the_real_client_ip_not_a_spoofed_one(host, lb_port):
    status, body = get(lb_port, headers={"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"})
    info = json.loads(body)
    assert status == 200
    assert info["client_ip"] != "203.0.113.66" and info["scheme"] == "http"
    gateway = host.check_output("ip route | awk '/default/ {print $3}'")
    assert info["client_ip"] == gateway  # this machine, as the load balancer saw it


def test_requests_keep_succeeding_with_gunicorn_stopped_on_one_app_host(lb_port):
    """Bound: no failed request. Nginx retries a refused connection on the other
    host (proxy_next_upstream) and, after max_fails, stops trying the dead one."""
    app1 = remote(APPS[0])
    app1.run_expect([0], "systemctl stop gunicorn-shop.socket gunicorn-shop.service")
    try:
        results = [get(lb_port) for _ in range(100)]
        failed = [status for status, _ in results if status != 200]
        assert not failed, f"{len(failed)} of 100 requests failed: {failed[:5]}"
        assert {json.loads(body)["host"] for _, body in results} == {APPS[1]}
    finally:
        app1.run_expect([0], "systemctl start gunicorn-shop.socket gunicorn-shop.service")
    # After fail_timeout (10 s) the load balancer tries app1 again.
    seen, deadline = set(), time.time() + 30
    while time.time() < deadline and APPS[0] not in seen:
        seen.add(json.loads(get(lb_port)[1])["host"])
        time.sleep(0.2)
    assert APPS[0] in seen, "app1 got no traffic again within 30 s"


def test_rolling_deploy_under_load_drops_no_request(lb_port, tmp_path):
    """A new release (new code and APP_VERSION 2) goes out host by host while
    4 clients keep requesting through the load balancer."""
    source = tmp_path / "app_v2"
    shutil.copytree(project_file("molecule", "test_app"), source)
    (source / "RELEASE").write_text("v2\n")
    extra = json.dumps({"flask_nginx_app_src": str(source),
                        "flask_nginx_app_env": {"APP_NAME": "shop", "APP_VERSION": "2"}})
    before = json.loads(get(lb_port)[1])["version"]
    # Kept-alive clients through the load balancer's published port (http_load.py), about
    # 200 requests a second in all: every drain and switch sees traffic, and the deploy
    # keeps the CPU it needs.
    with Load(lb_port, clients=4, seconds=300, keepalive=True, pause=0.02) as load:
        time.sleep(2)
        started = time.time()
        result = run_playbook(project_file("playbooks", "deploy.yml"), "-e", extra)
        took = time.time() - started
        time.sleep(2)
    assert result.returncode == 0, output(result)
    print(f"rolling deploy: {took:.1f} s, {load.ok} requests ok, {load.failed} failed, "
          f"{load.reconnects} resent after an idle connection closed")
    assert load.ok > 100
    assert load.failed == 0, f"{load.failed} failed requests: {load.errors[:5]}"
    assert load.versions == {before, "2"}  # old and new side by side, then only new
    for name in APPS:
        info = json.loads(remote(name).check_output(
            "curl -fsS -H 'Host: shop.test' http://$(hostname -I | cut -d' ' -f1):8000/api/info"))
        assert info["version"] == "2"


def pre_switch_runs():
    """Lines in each app host's pre-switch log: one per release whose commands it ran."""
    return {name: int(remote(name).run("cat /var/lib/shop/pre-switch.log 2>/dev/null | wc -l").stdout.strip() or 0)
            for name in APPS}


def test_pre_switch_commands_ran_once_per_release_for_the_fleet():
    """The first release and the rolling deploy's release: each ran its commands on one
    app host only, and every app host knows they ran (its marker)."""
    runs = pre_switch_runs()
    releases = {name: remote(name).check_output("ls /var/lib/flask-nginx/shop/pre-switch/").split() for name in APPS}
    assert sum(runs.values()) == len(releases[APPS[0]]), (runs, releases)
    assert releases[APPS[0]] == releases[APPS[1]], releases
    migrated = [name for name in APPS if remote(name).run(
        "python3 -c \"import sqlite3; print(sqlite3.connect('/var/lib/shop/app.db').execute("
        "'select count(*) from schema_migrations').fetchone()[0])\"").stdout.strip() == "2"]
    assert len(migrated) == 1, migrated


def test_scheduled_job_runs_on_one_app_host_only():
    assert remote(APPS[0]).service("shop-job-tick.timer").is_running
    assert not remote(APPS[1]).file("/etc/systemd/system/shop-job-tick.timer").exists
    remote(APPS[0]).run_expect([0], "systemctl start shop-job-tick.service")
    assert "tick version=" in remote(APPS[0]).file("/var/lib/shop/ticks.log").content_string


def test_status_reports_every_host_and_fails_with_gunicorn_stopped_on_one_app_host():
    """playbooks/status.yml over the whole cluster: healthy, then unhealthy with Gunicorn
    stopped on app1 (and only app1 is named)."""
    result = run_playbook(project_file("playbooks", "status.yml"))
    text = output(result, tail=None)
    assert result.returncode == 0, output(result)
    for name in [LB, *APPS]:
        assert re.search(rf"^{name}\s*:.*failed=0", result.stdout, re.M), output(result)
    assert text.count("gunicorn-shop.service active running") == 2 and "nginx.service active running" in text
    assert text.count("healthy: true") == 3
    app1 = remote(APPS[0])
    app1.run_expect([0], "systemctl stop gunicorn-shop.socket gunicorn-shop.service")
    try:
        result = run_playbook(project_file("playbooks", "status.yml"))
        assert result.returncode != 0, output(result)
        assert re.search(rf"^{APPS[0]}\s*:.*failed=1", result.stdout, re.M), output(result)
        assert re.search(rf"^{APPS[1]}\s*:.*failed=0", result.stdout, re.M), output(result)
        assert "gunicorn-shop.service is not active" in output(result, tail=None)
    finally:
        app1.run_expect([0], "systemctl start gunicorn-shop.socket gunicorn-shop.service")
