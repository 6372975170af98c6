"""cluster scenario: a load balancer in front of three app hosts.

Requests come from this machine through the load balancer's port published on
127.0.0.1; load runs are bounded in time. The rolling deploy is run once; what it
left (the app hosts' history, the post-switch commands' log) is read by the tests
after it."""
import datetime
import getpass
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import tomllib
import http.client
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask_nginx_testing import output, project_file, remote, run_playbook
from http_load import Load

testinfra_hosts = ["ansible://flask-nginx-cluster-lb"]

LB = "flask-nginx-cluster-lb"
APPS = ["flask-nginx-cluster-app1", "flask-nginx-cluster-app2", "flask-nginx-cluster-app3"]
LOCK = "/run/flask-nginx/shop/deploy.lock"
# A second run stops at its first play's lock step, after gathering facts, the checks and
# the plan: about 10 s on an idle machine. The bound leaves room for the first deploy and
# the load running beside it on two cores.
REFUSED_WITHIN = 30
# What the tests saw of the runs they made, for the tests after them.
SEEN = {}


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


BUILD = "/var/lib/flask-nginx/shop/fleet-build"
WHEELS = "/var/lib/flask-nginx/shop/wheels"
VERSIONS = ("python3 -c 'import importlib.metadata as m, json; "
            "print(json.dumps(sorted((d.metadata[\"Name\"].lower(), d.version) for d in m.distributions())))'")


def wheel_sums(app, folder):
    """{wheel file name: sha256} of every wheel under FOLDER on APP."""
    out = app.check_output(f"find {folder} -name '*.whl' -exec sha256sum {{}} + | sort")
    return {os.path.basename(path): digest for digest, path in (line.split() for line in out.splitlines())}


def test_one_build_for_the_fleet_app3_installs_the_wheels_of_app1_with_no_index():
    app1, app2, app3 = (remote(name) for name in APPS)
    # app3's index (molecule.yml) answers nothing: it could not have installed from it.
    assert app3.run("curl -sS --max-time 3 -o /dev/null http://192.0.2.1:9/simple/").rc != 0
    sets = app1.check_output(f"ls {BUILD}").split()
    assert "uv-0.13.9" in sets and [s for s in sets if s.startswith("gunicorn-")], sets
    assert [s for s in sets if s.startswith("release-")], sets
    # Identical bits: each wheel app3 holds is one app1 built, byte for byte (app3 keeps
    # the wheels of the last build it took, the release's).
    built, taken = wheel_sums(app1, BUILD), wheel_sums(app3, WHEELS)
    assert taken and {name: built.get(name) for name in taken} == taken, (taken, built)
    # The same versions in the release's virtualenv and in Gunicorn's, on both hosts.
    for venv, package in (("/opt/shop/current/venv", "flask"), ("/opt/shop/gunicorn", "gunicorn")):
        ours, theirs = (json.loads(app.check_output(f"{venv}/bin/{VERSIONS}")) for app in (app1, app3))
        assert ours == theirs and package in [name for name, _ in ours], (venv, ours, theirs)
    # app2, another platform, builds from its index for itself, and nobody takes its build.
    assert not app2.file(WHEELS).exists and not app2.file(BUILD).exists
    assert not app1.file(WHEELS).exists


# A second app, packaged by pyproject.toml and uv.lock (the default scenario's packaged
# app), on the fleet: app3 installs its locked versions from app1's build, with no index.
PACKAGED = {"flask_nginx_app_name": "packaged", "flask_nginx_server_names": ["packaged.test"],
            "flask_nginx_gunicorn": {"port": 8002}, "flask_nginx_app_env": {}, "flask_nginx_timers": [],
            "flask_nginx_pre_switch_commands": [], "flask_nginx_post_switch_commands": []}


def packaged_copy(tmp_path, name, **files):
    source = tmp_path / name
    source.mkdir()
    for kept in ("app.py", "pyproject.toml", "uv.lock"):
        shutil.copy(project_file("molecule", "default", "packaged_app", kept), source / kept)
    for file, text in files.items():
        (source / file).write_text(text)
    return json.dumps({**PACKAGED, "flask_nginx_app_src": str(source)})


def packaged_versions(name):
    """What the packaged app's virtualenv holds on app host NAME, asked of its Gunicorn there."""
    return json.loads(remote(name).check_output(
        "curl -fsS -H 'Host: packaged.test' http://$(hostname -I | cut -d' ' -f1):8002/versions"))


def locked_versions():
    with open(project_file("molecule", "default", "packaged_app", "uv.lock"), "rb") as lock:
        return {p["name"]: p["version"] for p in tomllib.load(lock)["package"] if "registry" in p["source"]}


@pytest.fixture(scope="module")
def packaged_fleet(tmp_path_factory):
    return run_playbook(project_file("playbooks", "site.yml"), "-e", packaged_copy(tmp_path_factory.mktemp("packaged"), "v1"))


def test_a_locked_app_gets_exactly_its_lock_on_every_app_host_the_one_without_an_index_too(packaged_fleet, lb_port):
    assert packaged_fleet.returncode == 0, output(packaged_fleet)
    locked = locked_versions()
    for name in APPS:
        found = packaged_versions(name)
        assert {package: found.get(package) for package in locked} == locked, name
    status, body = get(lb_port, "/versions", {"Host": "packaged.test"})
    assert status == 200 and json.loads(body)["flask"] == locked["flask"]
    # app3 built the project itself from the release's code, with the build backend app1 brought.
    assert [w for w in wheel_sums(remote(APPS[2]), "/var/lib/flask-nginx/packaged/wheels") if w.startswith("setuptools-")]


def test_a_wheel_of_the_build_that_does_not_match_the_lock_fails_before_the_switch(packaged_fleet, tmp_path):
    """The host that takes the build checks the lock's hashes itself: a wheel of app1's build
    altered after it was made fails app3's deploy before its switch, naming the package, and
    app3 keeps serving its release; with the build made again, app3 deploys."""
    assert packaged_fleet.returncode == 0, output(packaged_fleet)
    app1, app3 = remote(APPS[0]), remote(APPS[2])
    site, settings = project_file("playbooks", "site.yml"), packaged_copy(tmp_path, "v2", NOTE=f"v2 {time.time()}\n")  # a release app3 never had
    first = run_playbook(site, "-e", settings, "--limit", f"{LB},{APPS[0]},{APPS[1]}")
    assert first.returncode == 0, output(first)
    release = os.path.basename(app1.file("/opt/packaged/current").linked_to)
    before = app3.file("/opt/packaged/current").linked_to
    assert not before.endswith(release)
    # app1 makes the set of this release as the role has it made (tasks/fleet_wheels.yml), and
    # one wheel is altered there afterwards.
    build = "/var/lib/flask-nginx/packaged/fleet-build"
    spec = [{"name": f"release-{release}-uv_lock", "kind": "release", "release": release,
             "app": f"/opt/packaged/releases/{release}/app", "install": "uv_lock",
             "requirements": "requirements.txt", "uv": "/opt/flask-nginx/uv/bin/uv"}]
    subprocess.run(["docker", "cp", project_file("roles", "flask_nginx", "files", "fleet_wheels.py"),
                    f"{APPS[0]}:/root/fleet_wheels.py"], check=True, capture_output=True)
    app1.check_output(f"PIP_CERT=/etc/flask-nginx/packaged/pip-ca.pem python3 /root/fleet_wheels.py {build} {build}/.test.tar "
                      f"'{json.dumps(spec)}'")
    app1.check_output(f"cd {build}/release-{release}-uv_lock && python3 -c \"import glob, zipfile; "
                      f"zipfile.ZipFile(glob.glob('flask-*.whl')[0], 'a').writestr('extra.txt', 'x')\"")
    try:
        refused = run_playbook(site, "-e", settings, "--limit", APPS[2])
        assert refused.returncode != 0
        said = output(refused, tail=None)
        assert f"release {release} of packaged could not be built; the current release keeps serving" in said, output(refused)
        assert re.search(r"(?i)hash mismatch for .?flask", said), output(refused)
        assert app3.file("/opt/packaged/current").linked_to == before
        assert packaged_versions(APPS[2])["flask"] == locked_versions()["flask"]
    finally:
        app1.check_output(f"rm -rf {build}/release-{release}-uv_lock {build}/.test.tar /root/fleet_wheels.py")
    again = run_playbook(site, "-e", settings, "--limit", APPS[2])
    assert again.returncode == 0, output(again)
    assert app3.file("/opt/packaged/current").linked_to.endswith(release)


def test_rollback_undoes_a_change_of_settings_alone_on_the_fleet_and_the_load_balancer_keeps_its_release(lb_port):
    """Settings alone change on every app host (the converge's code stays), then rollback.yml:
    each app host serves its settings from before again, the load balancer (no app, so no
    settings) keeps the release it serves and succeeds, and every app host is in rotation."""
    lb_release = remote(LB).file("/opt/shop/current").linked_to
    releases = {name: remote(name).file("/opt/shop/current").linked_to for name in APPS}
    changed = run_playbook(project_file("playbooks", "site.yml"), "-e",
                           json.dumps({"flask_nginx_app_env": {"APP_NAME": "shop", "APP_VERSION": "settings-only"}}))
    assert changed.returncode == 0, output(changed)
    assert set(served_versions().values()) == {"settings-only"}
    undone = run_playbook(project_file("playbooks", "rollback.yml"))
    assert undone.returncode == 0, output(undone)
    assert set(served_versions().values()) == {"1"}
    assert {name: remote(name).file("/opt/shop/current").linked_to for name in APPS} == releases
    assert remote(LB).file("/opt/shop/current").linked_to == lb_release
    assert_all_in_rotation(lb_port)


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
    extra = json.dumps({"flask_nginx_app_name": "blog", "flask_nginx_gunicorn": {"port": 8001},
                        "flask_nginx_firewall": {"enabled": True, "allow_tcp": [9100]}})
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


def test_load_balancer_spreads_requests_over_every_app_host(lb_port):
    hosts = {json.loads(get(lb_port)[1])["host"] for _ in range(30)}
    assert hosts == set(APPS)


def test_app_sees_the_real_client_ip_not_a_spoofed_one(host, lb_port):
    status, body = get(lb_port, headers={"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"})
    info = json.loads(body)
    assert status == 200
    assert info["client_ip"] != "203.0.113.66" and info["scheme"] == "http"
    gateway = host.check_output("ip route | awk '/default/ {print $3}'")
    assert info["client_ip"] == gateway  # this machine, as the load balancer saw it


@pytest.mark.quiet
def test_requests_keep_succeeding_with_gunicorn_stopped_on_one_app_host(lb_port):
    """Bound: no failed request. Nginx retries a refused connection on the other
    host (proxy_next_upstream) and, after max_fails, stops trying the dead one."""
    app1 = remote(APPS[0])
    app1.run_expect([0], "systemctl stop gunicorn-shop.socket gunicorn-shop.service")
    try:
        results = [get(lb_port) for _ in range(100)]
        failed = [status for status, _ in results if status != 200]
        assert not failed, f"{len(failed)} of 100 requests failed: {failed[:5]}"
        assert {json.loads(body)["host"] for _, body in results} == set(APPS[1:])
    finally:
        app1.run_expect([0], "systemctl start gunicorn-shop.socket gunicorn-shop.service")
    # After fail_timeout (10 s) the load balancer tries app1 again.
    seen, deadline = set(), time.time() + 30
    while time.time() < deadline and APPS[0] not in seen:
        seen.add(json.loads(get(lb_port)[1])["host"])
        time.sleep(0.2)
    assert APPS[0] in seen, "app1 got no traffic again within 30 s"


# The canary and the automatic rollback (playbooks/deploy.yml, tasks/batch.yml): app1 is
# the first batch, and serves real traffic for 8 s before it is judged.
CANARY = ("-e", "flask_nginx_canary_hosts=1", "-e", "flask_nginx_canary_seconds=8")
# Static files: one that only the converged release has (the v2 release drops it), and
# one that only v2 has, with a content hash in its name.
OLD_ONLY, NEW_ONLY = "/static/app.js", "/static/v2.3f9a2c1d.js"


class AssetWatch:
    """with AssetWatch(port, load) as assets: ...; then assets.polls: (time, status of
    OLD_ONLY, status of NEW_ONLY, whether the load had met the new release by then),
    every 0.2 s through the load balancer."""

    def __init__(self, port, load):
        self.port, self.load, self.polls = port, load, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stop.is_set():
            met = "2" in self.load.versions
            try:
                self.polls.append((time.time(), get(self.port, OLD_ONLY)[0], get(self.port, NEW_ONLY)[0], met))
            except OSError as exc:
                self.polls.append((time.time(), repr(exc), repr(exc), met))
            self.stop.wait(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@pytest.mark.quiet
def test_rolling_deploy_under_load_drops_no_request(lb_port, tmp_path):
    """A new release (new code and APP_VERSION 2) goes out host by host, app1 first as a
    canary, while 4 clients keep requesting through the load balancer."""
    source = tmp_path / "app_v2"
    shutil.copytree(project_file("molecule", "test_app"), source)
    (source / "RELEASE").write_text("v2\n")
    (source / OLD_ONLY.lstrip("/")).unlink()
    (source / NEW_ONLY.lstrip("/")).write_text("// only in v2\n")
    extra = json.dumps({"flask_nginx_app_src": str(source),
                        "flask_nginx_app_env": {"APP_NAME": "shop", "APP_VERSION": "2"}})
    before = json.loads(get(lb_port)[1])["version"]
    deploy = project_file("playbooks", "deploy.yml")
    # Kept-alive clients through the load balancer's published port (http_load.py), about
    # 200 requests a second in all: every drain and switch sees traffic, and the deploy
    # keeps the CPU it needs. A second deploy, started once the first holds the deploy
    # lock, must stop at once, naming the first.
    with Load(lb_port, clients=4, seconds=300, keepalive=True, pause=0.02) as load, \
            ThreadPoolExecutor(max_workers=1) as pool, DrainWatch() as drains, AssetWatch(lb_port, load) as assets:
        time.sleep(2)
        started = time.time()
        first = pool.submit(run_playbook, deploy, "-e", extra, *CANARY)
        holders = wait_for_lock(APPS, first)
        second_started = time.time()
        second = run_playbook(deploy, "-e", extra)
        second_took = time.time() - second_started
        result = first.result()
        took = time.time() - started
        time.sleep(2)
    SEEN["deploy"], SEEN["second deploy"], SEEN["drains"] = result, second, drains.windows()
    SEEN["deploy load"], SEEN["assets"] = load, assets.polls
    assert result.returncode == 0, output(result)
    print(f"rolling deploy: {took:.1f} s, {load.ok} requests ok, {load.failed} failed, "
          f"{load.reconnects} resent after an idle connection closed; the second deploy stopped "
          f"after {second_took:.1f} s")
    assert holders[APPS[0]]["user"] == getpass.getuser() and holders[APPS[0]]["host"] == socket.gethostname()
    assert len({holder["id"] for holder in holders.values()}) == 1, holders  # one run, one id
    assert_refused_naming(second, holders[APPS[0]], "deploy.yml")
    assert second_took < REFUSED_WITHIN, f"the second deploy took {second_took:.1f} s to stop"
    assert all(lock_of(name) is None for name in APPS), "the deploy did not give back its lock"
    assert load.ok > 100
    assert load.failed == 0, f"{load.failed} failed requests: {load.errors[:5]}"
    assert load.versions == {before, "2"}  # old and new side by side, then only new
    for name in APPS:
        info = json.loads(remote(name).check_output(
            "curl -fsS -H 'Host: shop.test' http://$(hostname -I | cut -d' ' -f1):8000/api/info"))
        assert info["version"] == "2"


# The load balancer's view of the rolling deploy: its upstream file (which app host is
# marked down) and its access log (which app host answered each request, $upstream_addr).
UPSTREAM = "/etc/nginx/conf.d/flask-nginx-upstream-shop.conf"
ACCESS_LOG = "/var/log/nginx/shop/access.log"


class DrainWatch:
    """with DrainWatch() as drains: ...; then drains.windows(): {address: [(out, back), ...]}.
    One process on the load balancer reads, every 0.2 s, which app hosts its upstream marks
    down, and Nginx's workers: OUT is when the drain took effect, the first moment the file
    said down and every worker had started after that change (no old worker still shutting
    down, which serves with the old upstream); BACK is when the file no longer said down.
    The hosts share this machine's clock."""

    SCRIPT = r"""
import os, re, sys, time
stop, upstream = sys.argv[1], sys.argv[2]
boot = int(next(l for l in open("/proc/stat") if l.startswith("btime")).split()[1])
tick = os.sysconf("SC_CLK_TCK")
def workers():
    started, old = [], 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").strip()
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if cmd.startswith(b"nginx: worker process is shutting down"):
            old += 1
        elif cmd.startswith(b"nginx: worker process"):
            started.append(boot + int(stat[19]) / tick)
    return (min(started) if started else 0.0), old
while not os.path.exists(stop):
    with open(upstream) as f:
        down = re.findall(r"^\s*server (\S+) .* down;$", f.read(), re.M)
    oldest, old = workers()
    print(time.time(), oldest, old, *down, flush=True)
    time.sleep(0.2)
os.unlink(stop)
"""

    def __enter__(self):
        self.stop = f"/run/drain-watch-{os.getpid()}"
        self.process = subprocess.Popen(["docker", "exec", LB, "python3", "-c", self.SCRIPT, self.stop, UPSTREAM],
                                        stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["docker", "exec", LB, "touch", self.stop], check=False)
        try:
            self.lines = self.process.communicate(timeout=10)[0].splitlines()
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.lines = self.process.communicate()[0].splitlines()

    def windows(self):
        found, changed, out, previous = {}, {}, {}, 0.0
        for line in self.lines:
            stamp, oldest, old, *down = line.split()
            stamp, oldest, down = float(stamp), float(oldest), set(down)
            for address in down - set(changed):
                changed[address] = previous  # the file changed after the poll before
            for address in set(changed) - down:
                if address in out:
                    found.setdefault(address, []).append((out.pop(address), stamp))
                changed.pop(address)
            for address in set(changed) - set(out):
                if old == "0" and oldest > changed[address]:
                    out[address] = stamp
            previous = stamp
        return found


def lb_log_lines(since):
    """The load balancer's access-log lines for the shop from SINCE on: (epoch seconds, upstream_addr)."""
    text = remote(LB).check_output(f"cat {ACCESS_LOG}")
    lines = []
    for raw in text.splitlines():
        entry = json.loads(raw)
        stamp = datetime.datetime.fromisoformat(entry["time"]).timestamp()
        if stamp >= since - 1:
            lines.append((stamp, entry["upstream_addr"]))
    return lines


def test_a_drained_host_gets_no_request_while_it_is_out():
    """Nginx retries a failed GET on the other host, so a broken drain could drop no request
    and still send traffic to a host being changed: the load balancer's own log shows that
    while an app host was marked down no request went to it, and that requests kept flowing
    to the other one. A line's $time_iso8601 is a whole second: it counts when that whole
    second lies in the window."""
    drains = SEEN["drains"]
    addresses = {name: remote(name).check_output("hostname -I").split()[0] + ":8000" for name in APPS}
    assert set(drains) == set(addresses.values()), drains  # each app host was taken out
    first = min(window[0] for windows in drains.values() for window in windows)
    lines = lb_log_lines(first)
    for name, address in addresses.items():
        assert len(drains[address]) == 1, (name, drains[address])
        out, back = drains[address][0]
        inside = [(stamp, upstream) for stamp, upstream in lines if out <= stamp and stamp + 1 <= back - 0.2]
        to_it = [line for line in inside if address in line[1].split(", ")]
        print(f"{name} out for {back - out:.1f} s: {len(inside)} requests in the window, {len(to_it)} sent to it")
        assert inside, f"no request reached the load balancer while {name} was out ({back - out:.1f} s)"
        assert not to_it, f"{len(to_it)} requests went to {name} while it was drained: {to_it[:5]}"


def lock_of(name):
    """The deploy lock of the shop on app host NAME (its JSON), or None."""
    found = subprocess.run(["docker", "exec", name, "cat", LOCK], capture_output=True, text=True, check=False)
    return json.loads(found.stdout) if found.returncode == 0 and found.stdout.strip() else None


def wait_for_lock(names, run, seconds=180):
    """The locks of NAMES once every one of them is held (by one run), while RUN goes on."""
    deadline = time.time() + seconds
    while time.time() < deadline and not run.done():
        locks = {name: lock_of(name) for name in names}
        if all(locks.values()):
            return locks
        time.sleep(0.5)
    raise AssertionError(f"no deploy lock on {names} within {seconds} s"
                         + (f":\n{output(run.result())}" if run.done() else ""))


def plant_lock(name, holder, age=0):
    """A deploy lock of the shop on NAME held by HOLDER, last renewed AGE seconds ago."""
    subprocess.run(["docker", "exec", "-i", name, "sh", "-ec",
                    f"mkdir -p $(dirname {LOCK}); cat > {LOCK}; touch -d @{int(time.time()) - age} {LOCK}"],
                   input=json.dumps(holder), text=True, check=True)


def assert_refused_naming(result, holder, playbook, changed_nothing=True):
    """RESULT stopped at the deploy lock, naming HOLDER (user, host, playbook, since when), and
    (CHANGED_NOTHING) changed nothing."""
    text = " ".join(output(result, tail=None).split())
    assert result.returncode != 0, output(result)
    assert "another run is deploying shop: the deploy lock on" in text, output(result)
    assert (f"held by {holder['user']}@{holder['host']} running {playbook} (run {holder['id']}) "
            f"since {holder['since']}") in text, output(result)
    if changed_nothing:
        assert re.search(r"changed=[1-9]", result.stdout) is None, output(result)


ALICE = {"id": "20250101T100000Z-0000a11c", "user": "alice", "host": "ctl.example", "playbook": "deploy.yml",
         "started": "2025-01-01T10:00:00+00:00", "since": "2025-01-01T10:00:05+00:00"}
# A run that does little but takes the lock and gives it back: the checks, the plan and the
# health check (the lock's steps run with any --tags).
HEALTH_ONLY = ("--tags", "flask_nginx_health")


def post_switch_runs():
    """Lines of each app host's post-switch log: [host, release, its `current` then, epoch seconds]."""
    logs = {name: remote(name).run("cat /var/lib/shop/post-switch.log 2>/dev/null").stdout for name in APPS}
    return {name: [line.split() for line in log.splitlines()] for name, log in logs.items()}


def test_post_switch_commands_ran_once_per_release_after_every_app_host_switched():
    """The first release (converge) and the rolling deploy's: each ran its post-switch commands
    once for the fleet, on one app host, with `current` already on the release, no earlier than
    any app host's switch to it, and in the rolling deploy in its last play, after every batch;
    every app host knows they ran (its marker)."""
    lines = [line for lines in post_switch_runs().values() for line in lines]
    markers = {name: sorted(remote(name).check_output("ls /var/lib/flask-nginx/shop/post-switch/").split())
               for name in APPS}
    assert all(found == markers[APPS[0]] for found in markers.values()) and len(markers[APPS[0]]) == 2, markers
    assert sorted(release for _, release, _, _ in lines) == markers[APPS[0]], (lines, markers)
    for runner, release, current, at in lines:
        assert current.endswith(f"/releases/{release}"), (runner, release, current)
        for name in APPS:
            switched = int(remote(name).check_output(f"stat -c %Y /opt/shop/releases/{release}/.deployed"))
            assert int(at) >= switched, f"the post-switch commands of {release} ran before {name} switched to it"
    live = {name: remote(name).file("/opt/shop/current").linked_to.rsplit("/", 1)[1] for name in APPS}
    assert len(set(live.values())) == 1 and live[APPS[0]] in markers[APPS[0]], live
    text = output(SEEN["deploy"], tail=None)
    last_play = text.index("PLAY [Run the post-switch commands once")
    ran = [m.start() for m in re.finditer(
        r"Run the commands of the new release: post-switch\] \*+\n(?:skipping: \[[^\]]+\]\n)*changed: \[", text)]
    assert len(ran) == 1 and ran[0] > last_play, output(SEEN["deploy"])


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
    assert all(found == releases[APPS[0]] for found in releases.values()), releases
    migrated = [name for name in APPS if remote(name).run(
        "python3 -c \"import sqlite3; print(sqlite3.connect('/var/lib/shop/app.db').execute("
        "'select count(*) from schema_migrations').fetchone()[0])\"").stdout.strip() == "2"]
    assert len(migrated) == 1, migrated


def test_scheduled_job_runs_on_one_app_host_only():
    assert remote(APPS[0]).service("shop-job-tick.timer").is_running
    assert not [name for name in APPS[1:] if remote(name).file("/etc/systemd/system/shop-job-tick.timer").exists]
    remote(APPS[0]).run_expect([0], "systemctl start shop-job-tick.service")
    assert "tick version=" in remote(APPS[0]).file("/var/lib/shop/ticks.log").content_string


def test_a_dead_runs_lock_expires_or_is_broken_with_lock_break():
    """app1's lock was left 2 hours ago (expired: taken over with a warning), app2's a minute
    ago by a run that died: the run stops naming it, and gives back app1's and app3's, which it
    took. Run again with -e flask_nginx_lock_break=true, it breaks app2's lock, runs, gives all back."""
    plant_lock(APPS[0], ALICE, age=7200)
    plant_lock(APPS[1], ALICE, age=60)
    try:
        refused = run_playbook(project_file("playbooks", "site.yml"), *HEALTH_ONLY)
        # Taking over app1's expired lock (and giving it back) is its one change.
        assert_refused_naming(refused, ALICE, "deploy.yml", changed_nothing=False)
        assert re.search(rf"^{APPS[1]}\s*:.*changed=0", refused.stdout, re.M), output(refused)
        text = " ".join(output(refused, tail=None).split())
        assert "took over the deploy lock held by alice@ctl.example" in text and "its run died" in text, output(refused)
        assert lock_of(APPS[0]) is None and lock_of(APPS[1])["id"] == ALICE["id"] and lock_of(APPS[2]) is None
        broken = run_playbook(project_file("playbooks", "site.yml"), *HEALTH_ONLY, "-e", "flask_nginx_lock_break=true")
        assert broken.returncode == 0, output(broken)
        assert "flask_nginx_lock_break is true" in " ".join(output(broken, tail=None).split()), output(broken)
        assert all(lock_of(name) is None for name in APPS)
    finally:
        for name in APPS:
            subprocess.run(["docker", "exec", name, "rm", "-f", LOCK], check=False)


def test_a_failed_run_is_recorded_in_the_history_and_gives_back_its_lock():
    """A run whose health check fails (a path the app does not have): each app host records
    the failure, and the lock is given back at once, so the next run is not blocked."""
    result = run_playbook(project_file("playbooks", "site.yml"), *HEALTH_ONLY, "-e", json.dumps(
        {"flask_nginx_healthcheck": {"path": "/no-such-page", "retries": 1, "delay": 0.5}}))
    SEEN["failed run"] = result
    assert result.returncode != 0, output(result)
    for name in APPS:
        assert re.search(rf"^{name}\s*:.*failed=1.*rescued=1", result.stdout, re.M), output(result)
        assert lock_of(name) is None, f"the failed run left its lock on {name}"
        last = json.loads(remote(name).check_output("tail -n 1 /var/lib/flask-nginx/shop/history.jsonl"))
        assert (last["kind"], last["result"]) == ("deploy", "failed") and "Check that the app answers" in last["message"]
        mode = remote(name).check_output("stat -c '%U %a' /var/lib/flask-nginx/shop/history.jsonl")
        assert mode == "root 640", mode


def test_status_reports_every_host_and_fails_with_gunicorn_stopped_on_one_app_host():
    """playbooks/status.yml over the whole cluster: healthy, then unhealthy with Gunicorn
    stopped on app1 (and only app1 is named)."""
    result = run_playbook(project_file("playbooks", "status.yml"))
    text = output(result, tail=None)
    assert result.returncode == 0, output(result)
    for name in [LB, *APPS]:
        assert re.search(rf"^{name}\s*:.*failed=0", result.stdout, re.M), output(result)
    assert text.count("gunicorn-shop.service active running") == len(APPS) and "nginx.service active running" in text
    assert text.count("healthy: true") == len(APPS) + 1
    # Each app host's last deploys (the converge's, the rolling deploy's) and the failed run,
    # newest first, with who ran them; the lock is free.
    flat = " ".join(text.split())
    live = remote(APPS[0]).file("/opt/shop/current").linked_to.rsplit("/", 1)[1]
    who = f"by {getpass.getuser()}@{socket.gethostname()}"
    assert flat.count("deploy_lock: free") == len(APPS), output(result)
    assert flat.count(f"deploy ok {live} (was ") == len(APPS) and flat.count(f"{who} with deploy.yml") >= len(APPS), output(result)
    assert flat.count(f"{who} with converge.yml") >= len(APPS), output(result)
    assert flat.count("deploy failed") == len(APPS) and flat.count("Check that the app answers") == len(APPS), output(result)
    assert flat.index("deploy failed") < flat.index(f"deploy ok {live}"), "the history is not newest first"
    app1 = remote(APPS[0])
    app1.run_expect([0], "systemctl stop gunicorn-shop.socket gunicorn-shop.service")
    try:
        result = run_playbook(project_file("playbooks", "status.yml"))
        assert result.returncode != 0, output(result)
        assert re.search(rf"^{APPS[0]}\s*:.*failed=1", result.stdout, re.M), output(result)
        for name in APPS[1:]:
            assert re.search(rf"^{name}\s*:.*failed=0", result.stdout, re.M), output(result)
        assert "gunicorn-shop.service is not active" in output(result, tail=None)
    finally:
        app1.run_expect([0], "systemctl start gunicorn-shop.socket gunicorn-shop.service")


# The failed canary and the automatic rollbacks run last: the status test above counts
# the history the earlier tests left.
# The settings the rolling deploy above left; the releases below change code alone.
SETTINGS = {"flask_nginx_app_env": {"APP_NAME": "shop", "APP_VERSION": "2"}}


def release(tmp_path, version, in_settings=False, **files):
    """A copy of the test app whose /api/info says VERSION, with FILES (name: text) beside it.
    The version is in a VERSION file of the code, or IN_SETTINGS (APP_VERSION: new settings)."""
    source = tmp_path / f"app_{version}"
    shutil.copytree(project_file("molecule", "test_app"), source)
    settings = SETTINGS
    if in_settings:
        settings = {"flask_nginx_app_env": {**SETTINGS["flask_nginx_app_env"], "APP_VERSION": version}}
    else:
        (source / "VERSION").write_text(f"{version}\n")
    for name, text in files.items():
        (source / name).write_text(text)
    return json.dumps({**settings, "flask_nginx_app_src": str(source)})


def served_versions(names=APPS):
    """The version each app host of NAMES serves, asked of its Gunicorn on the host itself."""
    return {name: json.loads(remote(name).check_output(
        "curl -fsS -H 'Host: shop.test' http://$(hostname -I | cut -d' ' -f1):8000/api/info"))["version"]
        for name in names}


def assert_all_in_rotation(lb_port):
    """No app host is marked down, and requests through the load balancer reach every one."""
    upstream = remote(LB).file(UPSTREAM).content_string
    assert re.findall(r"(?m)^\s*server \S+ .*;$", upstream) and not re.search(r"(?m)^\s*server .* down;$", upstream), upstream
    seen = {json.loads(get(lb_port)[1])["host"] for _ in range(40)}
    assert seen == set(APPS), seen


def test_a_good_release_goes_through_a_canary_under_load_with_no_failed_request():
    """The rolling deploy above: app1 took real traffic on the new release for 8 s, was
    judged on the load balancer's log, and the deploy went on to app2; no request failed."""
    result, load = SEEN["deploy"], SEEN["deploy load"]
    text = " ".join(output(result, tail=None).split())
    assert result.returncode == 0, output(result)
    judged = re.search(r"canary flask-nginx-cluster-app1: (\d+) requests, (\d+) answered 5xx \(ratio ([0-9.]+), "
                       r"at most 0.01 allowed\), p99 (\d+) ms: the canary passed", text)
    assert judged, output(result)
    assert int(judged.group(1)) >= 20 and int(judged.group(2)) == 0, judged.group(0)
    assert load.failed == 0, f"{load.failed} failed requests: {load.errors[:5]}"
    assert served_versions() == {name: "2" for name in APPS}


def test_static_files_of_the_old_and_the_new_release_answer_during_and_after_the_rolling_deploy(lb_port):
    """From the moment a client met the new release (a page of it asks for its own files)
    to the end, a file only the old release has and one only the new release has both
    answer 200 on the load balancer; and they still do after the deploy."""
    polls = SEEN["assets"]
    old_statuses = {old for _, old, _, _ in polls}
    assert old_statuses == {200}, old_statuses
    after_met = [(stamp, new) for stamp, _, new, met in polls if met]
    assert len(after_met) > 10, f"the new release was met only in the last {len(after_met)} polls"
    assert {new for _, new in after_met} == {200}, [poll for poll in after_met if poll[1] != 200][:5]
    assert get(lb_port, OLD_ONLY)[0] == 200 and get(lb_port, NEW_ONLY)[0] == 200


def test_a_hashed_static_file_is_cached_for_good_and_others_for_the_set_lifetime(lb_port):
    """A name with a content hash never changes: Expires and max-age as far as Nginx goes;
    other static files get flask_nginx_static_expires (7 days)."""
    conn = http.client.HTTPConnection("127.0.0.1", lb_port, timeout=10)
    try:
        lifetimes = {}
        for path in (NEW_ONLY, "/static/style.css"):
            conn.request("GET", path, headers={"Host": "shop.test"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, path
            lifetimes[path] = response.getheader("Cache-Control")
    finally:
        conn.close()
    assert lifetimes == {NEW_ONLY: "max-age=315360000", "/static/style.css": "max-age=604800"}, lifetimes


@pytest.mark.quiet
def test_a_release_failing_real_requests_is_rolled_back_from_the_canary(lb_port, tmp_path):
    """A release that fails 1 request in 10 but answers its health check: the canary sees
    the 5xx in the load balancer's log, and app1 goes back to the release it served before
    (v2) and back into rotation; app2 is never touched; the deploy fails, naming the ratio."""
    deploy = project_file("playbooks", "deploy.yml")
    with Load(lb_port, clients=4, seconds=300, keepalive=True, pause=0.02):
        result = run_playbook(deploy, "-e", release(tmp_path, "4", FAIL_EVERY="10\n"), *CANARY)
    SEEN["bad canary"] = result
    text = " ".join(output(result, tail=None).split())
    assert result.returncode != 0, output(result)
    judged = re.search(r"canary flask-nginx-cluster-app1: (\d+) requests, (\d+) answered 5xx \(ratio ([0-9.]+), "
                       r"at most 0.01 allowed\), p99 \d+ ms: its 5xx ratio [0-9.]+ is above "
                       r"flask_nginx_canary_max_error_ratio 0.01 - the canary failed", text)
    assert judged, output(result)
    assert 0.05 <= float(judged.group(3)) <= 0.2, judged.group(0)
    assert re.search(rf"{APPS[0]} was rolled back to release [0-9a-f]{{12}} and is back in rotation; the deploy stops "
                     r"here .* The reason: Fail the canary: canary", text), output(result)
    assert served_versions() == {name: "2" for name in APPS}
    assert_all_in_rotation(lb_port)
    assert all(lock_of(name) is None for name in APPS)


def test_a_release_failing_its_health_check_is_rolled_back_with_its_settings(lb_port, tmp_path):
    """A release with new settings (APP_VERSION 5) whose health path answers 500 switches on
    app1, fails the health check, and goes back to v2 and v2's settings (it says 2 again),
    back into rotation; the deploy fails naming app1; app2 stays."""
    result = run_playbook(project_file("playbooks", "deploy.yml"), "-e",
                          release(tmp_path, "5", in_settings=True, UNHEALTHY="yes\n"))
    SEEN["unhealthy"] = result
    text = " ".join(output(result, tail=None).split())
    assert result.returncode != 0, output(result)
    assert re.search(rf"{APPS[0]} was rolled back to release [0-9a-f]{{12}} and is back in rotation; the deploy stops "
                     r"here .* The reason: Check that the app answers", text), output(result)
    assert served_versions() == {name: "2" for name in APPS}
    assert_all_in_rotation(lb_port)
    assert all(lock_of(name) is None for name in APPS)


def test_status_lists_the_automatic_rollbacks():
    """playbooks/status.yml shows both automatic rollbacks in app1's history, to the release
    app1 serves now, and the other app hosts' history has none."""
    result = run_playbook(project_file("playbooks", "status.yml"))
    assert result.returncode == 0, output(result)
    flat = " ".join(output(result, tail=None).split())
    live = remote(APPS[0]).file("/opt/shop/current").linked_to.rsplit("/", 1)[1]
    assert flat.count(f"auto-rollback ok {live} (was ") == 2, output(result)
    for name in APPS[1:]:
        assert "auto-rollback" not in remote(name).check_output("cat /var/lib/flask-nginx/shop/history.jsonl"), name


def marked_down(address):
    """Whether the load balancer's upstream marks the app host at ADDRESS down (out of rotation)."""
    upstream = subprocess.run(["docker", "exec", LB, "cat", UPSTREAM], capture_output=True, text=True).stdout
    return re.search(rf"(?m)^\s*server {re.escape(address)}:\d+ .*down;$", upstream) is not None


@pytest.mark.quiet
def test_an_app_host_that_stops_mid_rollout_stops_the_deploy_and_a_later_run_completes_it(lb_port, tmp_path):
    """#25 item 8: a rolling deploy, one app host at a time, under load. app3 is stopped
    while app1 is out of rotation for its batch. The site keeps answering; the deploy stops
    before it drains app2, naming app3, with app1 on the new release, app2 on the old one,
    both in rotation and their locks given back; app1 ran the pre-switch commands, and the
    markers that say so are on the hosts that could be reached. With app3 started again (its
    lock was in /run), the same deploy completes the rollout, without running the commands
    again."""
    app1, dead = APPS[0], APPS[2]
    address = remote(app1).check_output("hostname -I").split()[0]
    before = served_versions()
    # A longer drain (8 s) keeps app1 out while app3 stops.
    plain = release(tmp_path, "6")
    extra = {**json.loads(plain), "flask_nginx_fleet": {"drain_seconds": 8}}
    deploy = project_file("playbooks", "deploy.yml")
    with Load(lb_port, clients=4, seconds=600, keepalive=True, pause=0.02) as load, \
            ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(run_playbook, deploy, "-e", json.dumps(extra))
        deadline = time.time() + 300
        while not marked_down(address) and not first.done() and time.time() < deadline:
            time.sleep(0.2)
        assert marked_down(address), "app1 was never taken out of rotation" + (
            f":\n{output(first.result())}" if first.done() else "")
        subprocess.run(["docker", "stop", "--time", "5", dead], check=True, capture_output=True)
        stopped = first.result()
        time.sleep(1)
        during = {"ok": load.ok, "failed": load.failed, "errors": list(load.errors[:5])}
    text = " ".join(output(stopped, tail=None).split())
    assert stopped.returncode != 0, output(stopped)
    assert (f"the deploy stops before draining {APPS[1]}: {dead} cannot be reached" in text
            and "Bring the host back and run the deploy again" in text), output(stopped)
    assert during["ok"] > 100 and during["failed"] == 0, during
    alive = served_versions(APPS[:2])
    assert alive == {app1: "6", APPS[1]: before[APPS[1]]} and before[APPS[1]] != "6", (alive, before)
    assert lock_of(app1) is None and lock_of(APPS[1]) is None, "the stopped deploy kept a lock it could give back"
    upstream = remote(LB).file(UPSTREAM).content_string
    assert not [name for name in APPS[:2]
                if marked_down(remote(name).check_output("hostname -I").split()[0])], upstream
    # app1 ran the pre-switch commands of release 6; the hosts that could be reached remember.
    six = remote(app1).file("/opt/shop/current").linked_to.rsplit("/", 1)[1]
    marker = f"/var/lib/flask-nginx/shop/pre-switch/{six}"
    assert [name for name in APPS[:2] if remote(name).file(marker).exists] == APPS[:2], marker
    last = json.loads(remote(APPS[1]).check_output("tail -n 1 /var/lib/flask-nginx/shop/history.jsonl"))
    assert (last["kind"], last["result"]) == ("deploy", "failed") and f"{dead} cannot be reached" in last["message"], last

    subprocess.run(["docker", "start", dead], check=True, capture_output=True)
    deadline = time.time() + 120
    while time.time() < deadline and subprocess.run(
            ["docker", "exec", dead, "systemctl", "is-system-running", "--wait"],
            capture_output=True, text=True).stdout.strip() not in ("running", "degraded"):
        time.sleep(1)
    # Stopped before the markers were written, app3 has none: the others' count.
    assert not remote(dead).file(marker).exists, f"{dead} was still up when the markers were written"
    runs = pre_switch_runs()
    completed = run_playbook(deploy, "-e", plain)
    assert completed.returncode == 0, output(completed)
    assert pre_switch_runs() == runs, "the pre-switch commands of release 6 ran again"
    assert served_versions() == {name: "6" for name in APPS}
    assert_all_in_rotation(lb_port)
    assert all(lock_of(name) is None for name in APPS)
