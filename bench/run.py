#!/usr/bin/env python3
"""flask-nginx benchmark: the role's stack against the setups people would
otherwise pick, side by side, on the same app and the same host.

  make bench          (scripts/bench.sh: bootstrap, then this script)

Setups, all in one Debian 12 container with systemd (traffic stays on its
127.0.0.1; the load generators run inside it too, so every setup shares the
same two cores):
  flask-dev   Flask's development server (threaded), :5000
  gunicorn    Gunicorn alone, sync workers, as many as the role starts
              ((2 x CPUs) + 1), on 127.0.0.1:8000
  seed        Nginx with the server block of a typical blog post, as written:
              /static from disk with `alias` (the release's static directory),
              everything else `proxy_pass` to the Gunicorn above with the
              proxy_params headers; all else Nginx's defaults. :8081
  bare        the thinnest Nginx in front of the role's Gunicorn (the quiet app's
              socket, below): proxy_pass with upstream keep-alive and the Host
              header, nothing else, no access log. :8082. Not a setup to run (the
              app learns neither the client's address nor the scheme): it shows
              what Nginx's hop itself costs, so that the rest of the gap to
              Gunicorn alone can be put down to what the role adds on purpose.
  ours        the role: Nginx + Gunicorn on a unix socket, :80
  quiet       the role again, a second app on the same host (quiet.test on :80),
              with flask_nginx_gunicorn_access_log: false: what Gunicorn's line
              per request in the journal costs
  gevent      the role a third time (gevent.test on :80), its defaults but
              flask_nginx_gunicorn_worker_class: gevent: what the opt-in
              worker class buys for apps that are gevent-safe

Measurements, each printed as a progress line:
  throughput  wrk, BENCH_ROUNDS interleaved rounds (in each round every setup
              in turn, the order rotating); a ratio is the median of the
              per-round ratios, so slow drifts of the host cancel out.
  latency     at a fixed rate of half Gunicorn alone's measured throughput on
              `/`, open loop (hey: -q per worker x -c workers; the achieved
              rate is checked), Gunicorn alone and ours interleaved; p50, p99,
              and the CPU time per request of Nginx and of Gunicorn.
  slow        fast clients on `/` with and without 50 slow clients.
  converge    the single host: first run and idempotent re-run (tasks run,
              slowest tasks from ansible.posix.profile_tasks); a fleet of
              1 load balancer + 4 app hosts; with Mitogen too when it is
              installed (BENCH_MITOGEN=1, the opt-in of scripts/mitogen.sh).

Writes bench/results.json, bench/results.md and bench/results.png.
"""
import csv
import io
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "images"))
from systemd_container import docker_run_args  # noqa: E402  (systemd as PID 1: images/systemd-container.yml)
BENCH = ROOT / "bench"
NAME = "flask-nginx-bench"
IMAGE = "flask-nginx-test:bookworm"
DURATION = int(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = max(int(os.environ.get("BENCH_ROUNDS", "5")), 1)
LATENCY_SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SLOW_CLIENTS = 50
FLEET_APPS = int(os.environ.get("BENCH_FLEET_APPS", "4"))
STARTED = time.time()

SETUPS = {
    "flask-dev": {"port": 5000, "host": "shop.test", "label": "Flask dev server"},
    "gunicorn": {"port": 8000, "host": "shop.test", "label": "Gunicorn alone"},
    "seed": {"port": 8081, "host": "shop.test", "label": "Nginx, blog-post block"},
    "bare": {"port": 8082, "host": "quiet.test", "label": "Nginx, nothing but proxy_pass (keep-alive), line off"},
    "ours": {"port": 80, "host": "shop.test", "label": "flask-nginx role"},
    "quiet": {"port": 80, "host": "quiet.test", "label": "flask-nginx role, Gunicorn access log off"},
    "gevent": {"port": 80, "host": "gevent.test", "label": "flask-nginx role, gevent worker"},
}
ROUTES = {
    "dynamic /": ("/", []),
    "json /api/info": ("/api/info", []),
    "static css": ("/static/style.css", []),
    "static css gzip": ("/static/style.css", ["-H", "Accept-Encoding: gzip"]),
}
# The Flask dev server is only the baseline of the static target (and of `/` for contrast).
MATRIX = {"flask-dev": ["dynamic /", "static css"], "gunicorn": list(ROUTES), "seed": list(ROUTES),
          "bare": ["dynamic /", "json /api/info"], "ours": list(ROUTES),
          "quiet": ["dynamic /", "json /api/info"], "gevent": ["dynamic /", "json /api/info"]}
STATIC_DIR = "/opt/shop/current/app/static"
# The server block of the typical "Flask with Gunicorn and Nginx" blog post, as
# written there (the post's `include proxy_params;` spelled out), its static
# alias pointed at the release's static directory; everything else is Nginx's
# and Debian's default (sendfile on, gzip on for text/html, access log unbuffered).
SEED_CONF = f"""# The server block of a typical blog post.
server {{
    listen 8081;
    server_name shop.test;

    location /static {{
        alias {STATIC_DIR};
    }}

    location / {{
        proxy_pass http://127.0.0.1:8000;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
}}
"""
# The thinnest Nginx in front of the role's Gunicorn (the quiet app: its journal line is off):
# what the hop costs by itself, for the breakdown of the gap to Gunicorn alone.
BARE_CONF = """# Nothing but the proxy (the benchmark's floor of Nginx in front).
upstream bench_bare {
    server unix:/run/gunicorn-quiet.sock;
    keepalive 32;
}
server {
    listen 8082;
    server_name quiet.test;
    access_log off;

    location / {
        proxy_pass http://bench_bare;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
    }
}
"""
# The role's other apps on the host: one setting changed each, against the same targets.
VARIANTS = {
    "quiet": {"tag": "(access log off)", "text": "with Gunicorn's access log off (`flask_nginx_gunicorn_access_log: false`)",
              "vars": {"flask_nginx_app_name": "quiet", "flask_nginx_server_names": ["quiet.test"],
                       "flask_nginx_app_env": {"APP_NAME": "quiet"}, "flask_nginx_gunicorn_access_log": False}},
    "gevent": {"tag": "(gevent worker)", "text": "with the gevent worker (`flask_nginx_gunicorn_worker_class: gevent`)",
               "vars": {"flask_nginx_app_name": "gevent", "flask_nginx_server_names": ["gevent.test"],
                        "flask_nginx_app_env": {"APP_NAME": "gevent"},
                        "flask_nginx_gunicorn_worker_class": "gevent"}},
}
# The breakdown of ours ÷ Gunicorn alone into three steps whose product it is (near enough:
# each is a median of per-round ratios): (step, measured against, what the step adds).
GAP_STEPS = (("bare", "gunicorn"), ("quiet", "bare"), ("ours", "quiet"))
GAP_TEXT = {
    ("bare", "gunicorn"): "the hop: the thinnest Nginx (proxy_pass, keep-alive) ÷ Gunicorn alone",
    ("quiet", "bare"): "the role's server block and the app's use of its headers: ours, line off ÷ the thinnest Nginx",
    ("ours", "quiet"): "Gunicorn's journal line per request: ours ÷ ours, line off",
}
TARGETS = {
    "ours_vs_gunicorn": 1.0,
    "ours_vs_seed": 1.0,
    "static_vs_flask_dev": 20.0,
    "p99_vs_gunicorn": 1.2,
    "p50_minus_gunicorn_ms": 1.0,
    "again_s": 12.0,
    "fleet_vs_single": 1.5,
}
# CPU time per process group, from /proc inside the container: systemd unit of
# each process (cgroup), utime + stime in clock ticks.
CPU_SNAPSHOT = r"""
import json, os, re
out = {}
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        cgroup = open(f'/proc/{pid}/cgroup').read()
        stat = open(f'/proc/{pid}/stat').read()
    except OSError:
        continue
    m = re.search(r'/([^/\n]+\.service)', cgroup)
    unit = m.group(1) if m else 'other'
    fields = stat.rsplit(')', 1)[1].split()
    out[unit] = out.get(unit, 0) + int(fields[11]) + int(fields[12])
print(json.dumps({'hz': os.sysconf('SC_CLK_TCK'), 'ticks': out}))
"""


def progress(message):
    print(f"[{time.time() - STARTED:6.0f} s] {message}", flush=True)


def sh(*args, check=True, capture=True, env=None, stdin=None):
    result = subprocess.run(args, check=False, capture_output=capture, text=True, env=env, input=stdin)
    if check and result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}")
    return result


def dexec(container, script, check=True):
    return sh("docker", "exec", container, "bash", "-c", script, check=check)


def start_container(name, network=None, publish=None):
    sh("docker", "rm", "-f", name, check=False)
    args = ["docker", "run", "-d", "--name", name, "--hostname", name]
    if network:
        args += ["--network", network]
    if publish:
        args += ["-p", publish]
    sh(*args, *docker_run_args(IMAGE))
    for _ in range(60):
        state = dexec(name, "systemctl is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise SystemExit(f"{name}: systemd did not come up")


def mitogen_env():
    """Environment of the Mitogen opt-in (scripts/mitogen.sh), or None when it is not installed."""
    result = sh("bash", str(ROOT / "scripts" / "mitogen.sh"), "--env", check=False)
    if result.returncode != 0:
        return None
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def host_cpu_s():
    """CPU time the whole machine has spent busy (every process, containers included), in s."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def controller_cpu_s():
    """CPU time of this script's finished children: ansible-playbook, its forks and the docker
    clients they start (the controller's side of a converge), in s."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def converge(inventory, playbook="playbooks/site.yml", extra_env=None, profile=False, extra_args=(),
             containers=(NAME,)):
    """Run a playbook; its time, the machine's CPU time meanwhile, the recap's counts and
    (profile) the slowest tasks."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           **(extra_env or {})}
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "8"
    # Mitogen takes over the `docker` connection by that name only (scripts/mitogen.sh).
    extra_args = [*extra_args, *(["-e", "ansible_connection=docker"] if extra_env else [])]
    started, cpu_before, own_before = time.time(), host_cpu_s(), controller_cpu_s()
    result = sh("ansible-playbook", "-i", str(inventory), str(ROOT / playbook), *extra_args, check=False, env=env)
    took, cpu = time.time() - started, host_cpu_s() - cpu_before
    own = controller_cpu_s() - own_before
    # Module runs on the hosts: with pipelining each is one `docker exec` (Docker's own count).
    events = sh("docker", "events", "--since", f"{started:.3f}", "--until", f"{time.time():.3f}",
                "--filter", "type=container", "--filter", "event=exec_start",
                *[arg for name in containers for arg in ("--filter", f"container={name}")],
                "--format", "{{.ID}}", check=False)
    if result.returncode != 0:
        raise SystemExit(result.stdout[-4000:] + result.stderr[-2000:])
    recap = {key: sum(map(int, re.findall(rf"\b{key}=(\d+)", result.stdout)))
             for key in ("ok", "changed", "skipped", "failed")}
    out = {"s": round(took, 1), "cpu_s": round(cpu, 1), "controller_cpu_s": round(own, 1),
           "tasks_run": recap["ok"] + recap["failed"],
           "changed": recap["changed"], "skipped": recap["skipped"],
           "module_runs": len(events.stdout.split())}
    if profile:
        slowest = re.findall(r"^(.+?) -+ ([\d.]+)s$", result.stdout.split("TASKS RECAP")[-1], re.M)
        out["slowest"] = [[name.strip(), float(s)] for name, s in slowest[:8]]
    return out


def wrk(path, port, extra, connections=CONNECTIONS, seconds=DURATION, host="shop.test"):
    out = dexec(NAME, f"wrk -t2 -c{connections} -d{seconds}s --latency -H 'Host: {host}' "
                      f"{' '.join(repr(a) if ' ' in a else a for a in extra)} http://127.0.0.1:{port}{path}").stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50_ms": latency(50), "p99_ms": latency(99),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def summarise(runs):
    return {"rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "non_2xx": sum(r["non_2xx"] for r in runs),
            "socket_errors": sum(r["socket_errors"] for r in runs),
            "runs": [round(r["rps"], 1) for r in runs]}


def cpu_snapshot():
    data = json.loads(sh("docker", "exec", "-i", NAME, "python3", "-", stdin=CPU_SNAPSHOT).stdout)
    return data["hz"], data["ticks"]


def throughput_rounds():
    """wrk on every (setup, route) of MATRIX, ROUNDS times, interleaved; one warm-up run first."""
    pairs = [(route, setup) for route in ROUTES for setup in SETUPS if route in MATRIX[setup]]
    for route, setup in pairs:
        path, extra = ROUTES[route]
        wrk(path, SETUPS[setup]["port"], extra, seconds=1, host=SETUPS[setup]["host"])
    progress(f"warmed up {len(pairs)} setup/route pairs")
    runs = {setup: {route: [] for route in MATRIX[setup]} for setup in SETUPS}
    order = list(SETUPS)
    for n in range(ROUNDS):
        rotated = order[n % len(order):] + order[:n % len(order)]
        for route in ROUTES:
            for setup in rotated:
                if route not in MATRIX[setup]:
                    continue
                path, extra = ROUTES[route]
                r = wrk(path, SETUPS[setup]["port"], extra, host=SETUPS[setup]["host"])
                runs[setup][route].append(r)
                progress(f"round {n + 1}/{ROUNDS} {setup:9} {route:16} {r['rps']:9.0f} req/s "
                         f"p99 {r['p99_ms']:.2f} ms")
    return runs


def hey_fixed_rate(port, rate, seconds=LATENCY_SECONDS, workers=CONNECTIONS, host="shop.test"):
    """Open-loop-ish constant rate with hey: `workers` workers at rate/workers each (hey's -q is
    per worker). Returns p50/p99 from every request's time, the achieved rate, and errors."""
    per_worker = rate / workers
    out = dexec(NAME, f"hey -z {seconds}s -c {workers} -q {per_worker:.3f} -disable-compression "
                      f"-host {host} -o csv http://127.0.0.1:{port}/").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    times = sorted(float(r["response-time"]) * 1000 for r in rows)
    offsets = [float(r["offset"]) for r in rows]
    bad = sum(1 for r in rows if r["status-code"] != "200")
    span = max(offsets) - min(offsets) if offsets else 0
    return {"requests": len(rows), "achieved_rps": round(len(rows) / span, 1) if span else 0,
            "target_rps": round(rate, 1), "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99),
            "non_200": bad}


def percentile(values, pct):
    if not values:
        return None
    k = (len(values) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


def latency_rounds(rate):
    """Gunicorn alone, ours and its variants at the same fixed rate on `/`, interleaved (the order
    rotating); CPU per request, journald's included (Gunicorn's access lines go there)."""
    units = {"gunicorn": {"gunicorn": "bench-gunicorn.service"},
             "bare": {"nginx": "nginx.service", "gunicorn": "gunicorn-quiet.service",
                      "journald": "systemd-journald.service"}}
    for setup, app in [("ours", "shop")] + [(v, VARIANTS[v]["vars"]["flask_nginx_app_name"]) for v in VARIANTS]:
        units[setup] = {"nginx": "nginx.service", "gunicorn": f"gunicorn-{app}.service",
                        "journald": "systemd-journald.service"}
    order = list(units)
    runs = {setup: [] for setup in order}
    for n in range(ROUNDS):
        for setup in order[n % len(order):] + order[:n % len(order)]:
            hz, before = cpu_snapshot()
            r = hey_fixed_rate(SETUPS[setup]["port"], rate, host=SETUPS[setup]["host"])
            _, after = cpu_snapshot()
            r["cpu_us_per_request"] = {
                part: round((after.get(unit, 0) - before.get(unit, 0)) / hz * 1e6 / max(r["requests"], 1), 1)
                for part, unit in units[setup].items()}
            runs[setup].append(r)
            progress(f"latency round {n + 1}/{ROUNDS} {setup:9} {r['achieved_rps']:.0f}/{r['target_rps']:.0f} "
                     f"req/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms cpu/req {r['cpu_us_per_request']}")
    return runs


def prepare_alternatives():
    """Gunicorn alone, the Flask dev server and the seed block, on the same release."""
    pip_env = "PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1"
    # The role again on the host for each variant (another app, one setting changed).
    for variant in VARIANTS.values():
        converge(BENCH / "inventory.yml", extra_args=["-e", json.dumps(variant["vars"])])
    dexec(NAME, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk hey curl >/dev/null")
    dexec(NAME, f"python3 -m venv /opt/bench && {pip_env} /opt/bench/bin/pip install -q "
                "-r /opt/shop/current/app/requirements.txt gunicorn==27.0.1")
    # The role's worker count: its gunicorn.conf.py takes (2 x CPUs) + 1, at most 12.
    workers = min(int(dexec(NAME, "nproc").stdout) * 2 + 1, 12)
    app = "--working-directory=/opt/shop/current/app -p User=shop -E APP_NAME=shop"
    dexec(NAME, f"systemd-run --unit=bench-gunicorn {app} /opt/bench/bin/gunicorn "
                f"--workers {workers} --bind 127.0.0.1:8000 app:app")
    dexec(NAME, f"systemd-run --unit=bench-flask-dev {app} /opt/bench/bin/flask --app app run "
                "--host 127.0.0.1 --port 5000")
    dexec(NAME, f"cat > /etc/nginx/sites-enabled/bench-seed.conf <<'EOF'\n{SEED_CONF}EOF\n"
                f"cat > /etc/nginx/sites-enabled/bench-bare.conf <<'EOF'\n{BARE_CONF}EOF\n"
                "nginx -t -q && systemctl reload nginx")
    for setup in SETUPS.values():
        dexec(NAME, f"for i in $(seq 50); do curl -fs -o /dev/null -H 'Host: {setup['host']}' "
                    f"http://127.0.0.1:{setup['port']}/healthz && exit 0; sleep 0.2; done; exit 1")
    # The seed serves the same bytes from disk.
    dexec(NAME, "cmp <(curl -fs -H 'Host: shop.test' http://127.0.0.1:8081/static/style.css) "
                "<(curl -fs -H 'Host: shop.test' http://127.0.0.1/static/style.css)")
    sh("docker", "cp", str(BENCH / "slow_clients.py"), f"{NAME}:/root/slow_clients.py")
    return workers


def slow_client_case(port, label):
    """Fast clients on / with and without 50 slow clients holding connections."""
    without = summarise([wrk("/", port, []) for _ in range(3)])
    progress(f"slow clients {label:9} without {without['rps']:.0f} req/s")
    seconds = DURATION * 3 + 10
    dexec(NAME, f"nohup python3 /root/slow_clients.py 127.0.0.1 {port} {SLOW_CLIENTS} {seconds} "
                ">/dev/null 2>&1 &")
    time.sleep(3)
    with_slow = summarise([wrk("/", port, []) for _ in range(3)])
    dexec(NAME, "pkill -f slow_clients.py", check=False)
    progress(f"slow clients {label:9} with {SLOW_CLIENTS}: {with_slow['rps']:.0f} req/s")
    return {"without": without, "with": with_slow}


def fleet_converge(single_first, mitogen=None):
    """1 load balancer + N app hosts on their own network: first and repeated converge."""
    network = "flask-nginx-bench-fleet"
    names = ["flask-nginx-bench-lb"] + [f"flask-nginx-bench-app{i}" for i in range(1, FLEET_APPS + 1)]
    sh("docker", "network", "create", network, check=False)
    try:
        for name in names:
            start_container(name, network=network)
        inventory = BENCH / "tmp" / "fleet.yml"
        inventory.parent.mkdir(exist_ok=True)
        apps = "".join(f"        {n}:\n" for n in names[1:])
        inventory.write_text(
            "---\nall:\n  children:\n    flask_lb:\n      hosts:\n        flask-nginx-bench-lb:\n"
            f"    flask_app:\n      hosts:\n{apps}"
            "  vars:\n    ansible_connection: community.docker.docker\n"
            "    ansible_python_interpreter: /usr/bin/python3\n    flask_nginx_app_name: shop\n"
            f"    flask_nginx_app_src: {ROOT / 'molecule' / 'test_app'}\n"
            "    flask_nginx_server_names: [shop.test]\n"
            "    flask_nginx_pip_ca_bundle: \"{{ lookup('ansible.builtin.env', 'FLASK_NGINX_PIP_CA_BUNDLE') "
            "| default('', true) }}\"\n")
        first = converge(inventory, profile=True, containers=names)
        progress(f"fleet: first converge {first['s']} s (CPU {first['cpu_s']} s)")
        out = {"fleet": {"hosts": len(names), "first_s": first["s"], "first_cpu_s": first["cpu_s"],
                         "first_controller_cpu_s": first["controller_cpu_s"],
                         "first_vs_single": round(first["s"] / single_first, 2),
                         "first_slowest": first["slowest"], **rerun(inventory, label="fleet", containers=names)}}
        if mitogen:
            out["fleet_mitogen"] = {"hosts": len(names), **rerun(inventory, mitogen, "fleet with Mitogen", names)}
        return out
    finally:
        for name in names:
            sh("docker", "rm", "-f", name, check=False)
        sh("docker", "network", "rm", network, check=False)


def versions():
    out = {}
    for key, cmd in {"nginx": "nginx -v 2>&1", "gunicorn": "/opt/shop/gunicorn/bin/gunicorn --version",
                     "python": "python3 --version", "debian": "cat /etc/debian_version",
                     "wrk": "wrk -v 2>&1 | head -1", "hey": "dpkg-query -W -f '${Version}' hey"}.items():
        out[key] = dexec(NAME, cmd, check=False).stdout.strip()
    out["ansible"] = sh("ansible", "--version").stdout.splitlines()[0]
    return out


def rerun(inventory, extra_env=None, label="", containers=(NAME,)):
    again = converge(inventory, extra_env=extra_env, profile=True, containers=containers)
    progress(f"{label}: re-run {again['s']} s ({again['tasks_run']} tasks run, "
             f"{again['skipped']} skipped, {again['changed']} changed, {again['module_runs']} module runs)")
    return {"again_s": again["s"], "again_tasks_run": again["tasks_run"], "again_skipped": again["skipped"],
            "again_module_runs": again["module_runs"],
            "again_changed": again["changed"], "again_slowest": again["slowest"]}


def single_host(mitogen=None):
    """First converge and idempotent re-run of the single host (profiled); the re-run with
    Mitogen too. (Mitogen cannot do a first converge: the apt module's own install of
    python3-apt, and its re-start under that Python, fail under Mitogen 0.3.54.)"""
    start_container(NAME)
    first = converge(BENCH / "inventory.yml", profile=True)
    progress(f"single host: first converge {first['s']} s ({first['tasks_run']} tasks run, CPU {first['cpu_s']} s)")
    out = {"single": {"first_s": first["s"], "first_cpu_s": first["cpu_s"],
                      "first_controller_cpu_s": first["controller_cpu_s"], "first_tasks_run": first["tasks_run"],
                      "first_slowest": first["slowest"],
                      **rerun(BENCH / "inventory.yml", label="single host")}}
    if mitogen:
        out["single_mitogen"] = rerun(BENCH / "inventory.yml", mitogen, "single host with Mitogen")
    # The floor under a task on this connection: a module run that only reads (21 runs less 1,
    # so the playbook's start-up cancels out), and one `docker exec` starting Python.
    one = converge(BENCH / "inventory.yml", "bench/floor.yml", extra_args=["-e", "runs=1"])
    many = converge(BENCH / "inventory.yml", "bench/floor.yml", extra_args=["-e", "runs=21"])
    out["single"]["module_run_s"] = round((many["s"] - one["s"]) / 20, 3)
    progress(f"one module run on this connection: {out['single']['module_run_s']} s")
    started = time.time()
    for _ in range(10):
        sh("docker", "exec", NAME, "/usr/bin/python3", "-c", "pass")
    out["single"]["docker_exec_python_ms"] = round((time.time() - started) * 100, 1)
    progress(f"one docker exec of python3: {out['single']['docker_exec_python_ms']} ms")
    return out


def main():
    os.chdir(ROOT)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine()},
               "settings": {"wrk_connections": CONNECTIONS, "wrk_seconds": DURATION, "rounds": ROUNDS,
                            "latency_seconds": LATENCY_SECONDS, "hey_workers": CONNECTIONS}}
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpu)
    if model:
        results["machine"]["cpu"] = model.group(1).strip()
    mitogen = mitogen_env() if os.environ.get("BENCH_MITOGEN", "1") == "1" else None
    progress("converging the single host")
    try:
        converge_results = single_host(mitogen)
        results["converge"] = converge_results
        progress("starting the alternatives")
        results["gunicorn_workers"] = prepare_alternatives()
        results["versions"] = versions()
        runs = throughput_rounds()
        results["rounds"] = {setup: {route: [round(r["rps"], 1) for r in rs] for route, rs in routes.items()}
                             for setup, routes in runs.items()}
        results["throughput"] = {setup: {route: summarise(rs) for route, rs in routes.items()}
                                 for setup, routes in runs.items()}
        results["ratio_rounds"] = {
            "ours_vs_gunicorn": {route: per_round(runs["ours"][route], runs["gunicorn"][route])
                                 for route in ("dynamic /", "json /api/info")},
            **{f"{v}_vs_{base}": {route: per_round(runs[v][route], runs[base][route]) for route in MATRIX[v]}
               for v in VARIANTS for base in ("gunicorn", "seed")},
            "ours_vs_seed": {route: per_round(runs["ours"][route], runs["seed"][route]) for route in ROUTES},
            # Where the gap to Gunicorn alone goes: the hop itself (bare), what the role's server
            # block and the app's reading of its headers add (quiet ÷ bare), the journal line (ours ÷ quiet).
            **{f"{a}_vs_{b}": {route: per_round(runs[a][route], runs[b][route]) for route in ("dynamic /", "json /api/info")}
               for a, b in GAP_STEPS},
            "static_vs_flask_dev": per_round(runs["ours"]["static css"], runs["flask-dev"]["static css"]),
            "static_vs_gunicorn": per_round(runs["ours"]["static css"], runs["gunicorn"]["static css"]),
        }
        rate = results["throughput"]["gunicorn"]["dynamic /"]["rps"] / 2
        progress(f"latency at a fixed rate of {rate:.0f} req/s (half of Gunicorn alone's)")
        latency = latency_rounds(rate)
        results["latency"] = {"rate": round(rate, 1), "runs": latency}
        results["latency"]["ratio_rounds"] = latency_ratio_rounds(latency)
        results["slow_clients"] = {setup: slow_client_case(SETUPS[setup]["port"], setup)
                                   for setup in ("ours", "gunicorn")}
    finally:
        sh("docker", "rm", "-f", NAME, check=False)
    if os.environ.get("BENCH_FLEET", "1") == "1":
        progress(f"converging a fleet of 1 load balancer + {FLEET_APPS} app hosts")
        try:
            converge_results.update(fleet_converge(converge_results["single"]["first_s"], mitogen))
        except SystemExit as failure:  # keep the measurements taken so far
            progress(f"the fleet converge failed: {str(failure)[-1500:]}")
            converge_results["fleet_error"] = str(failure)[-1500:]
    results["total_s"] = round(time.time() - STARTED)
    report(results)
    progress(f"done in {results['total_s']} s")


def latency_ratio_rounds(latency):
    """Per round, ours and its variants against Gunicorn alone: p99 as a ratio, p50 as a difference (ms)."""
    out = {}
    for prefix, setup in [("", "ours"), ("bare_", "bare")] + [(f"{v}_", v) for v in VARIANTS]:
        pairs = list(zip(latency[setup], latency["gunicorn"]))
        out[f"{prefix}p99_vs_gunicorn"] = [round(o["p99_ms"] / g["p99_ms"], 2) for o, g in pairs]
        out[f"{prefix}p50_minus_gunicorn_ms"] = [round(o["p50_ms"] - g["p50_ms"], 3) for o, g in pairs]
    return out


def per_round(ours, other):
    return [round(a["rps"] / b["rps"], 3) if b["rps"] else None for a, b in zip(ours, other)]


def latency_summary(runs):
    parts = runs[0]["cpu_us_per_request"].keys()
    return {"p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "achieved_rps": statistics.median(r["achieved_rps"] for r in runs),
            "target_rps": runs[0]["target_rps"],
            # hey's -q paces each worker only while its answers come back in time: check it held.
            "rate_held": all(r["achieved_rps"] >= 0.95 * r["target_rps"] for r in runs),
            "non_200": sum(r["non_200"] for r in runs),
            "cpu_us_per_request": {p: statistics.median(r["cpu_us_per_request"][p] for r in runs) for p in parts}}


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def verdict(value, target, at_most=False):
    if value is None:
        return "not measured"
    return "met" if (value <= target if at_most else value >= target) else "**missed**"


def ratios(results):
    rr, lat = results["ratio_rounds"], results["latency"]["ratio_rounds"]
    c = results["converge"]
    out = {
        "ours_vs_gunicorn": {route: median(v) for route, v in rr["ours_vs_gunicorn"].items()},
        "ours_vs_seed": {route: median(v) for route, v in rr["ours_vs_seed"].items()},
        "static_vs_flask_dev": median(rr["static_vs_flask_dev"]),
        "static_vs_gunicorn": median(rr["static_vs_gunicorn"]),
        "p99_vs_gunicorn": median(lat["p99_vs_gunicorn"]),
        "p50_minus_gunicorn_ms": median(lat["p50_minus_gunicorn_ms"]),
        **{f"{v}_vs_{base}": {route: median(x) for route, x in rr.get(f"{v}_vs_{base}", {}).items()}
           for v in VARIANTS for base in ("gunicorn", "seed")},
        **{f"{v}_{what}": median(lat.get(f"{v}_{what}", []))
           for v in ["bare", *VARIANTS] for what in ("p99_vs_gunicorn", "p50_minus_gunicorn_ms")},
        **{f"{a}_vs_{b}": {route: median(x) for route, x in rr.get(f"{a}_vs_{b}", {}).items()}
           for a, b in GAP_STEPS},
        "again_s": c["single"]["again_s"],
        "fleet_vs_single": c["fleet"]["first_vs_single"] if "fleet" in c else None,
    }
    slow = results["slow_clients"]
    out["ours_slow_clients"] = round(slow["ours"]["with"]["rps"] / slow["ours"]["without"]["rps"], 2)
    out["gunicorn_slow_clients"] = round(slow["gunicorn"]["with"]["rps"] / slow["gunicorn"]["without"]["rps"], 2)
    return out


def ratio_rows(results):
    """(what, value, target text, verdict) for every target of issue 14."""
    r, c = results["ratios"], results["converge"]
    rows = []
    for route, value in r["ours_vs_gunicorn"].items():
        rows.append((f"ours ÷ Gunicorn alone, `{route}`", value, "≥ 1.0", verdict(value, 1.0)))
    for route, value in r["ours_vs_seed"].items():
        rows.append((f"ours ÷ seed block, `{route}`", value, "≥ 1.0", verdict(value, 1.0)))
    rows.append(("static CSS: ours ÷ Flask dev server", r["static_vs_flask_dev"], "≥ 20",
                 verdict(r["static_vs_flask_dev"], 20)))
    rows.append(("static CSS: ours ÷ Gunicorn alone (for contrast)", r["static_vs_gunicorn"], "", ""))
    rows.append((f"p99 on `/` at {results['latency']['rate']:.0f} req/s: ours ÷ Gunicorn alone",
                 r["p99_vs_gunicorn"], "≤ 1.2", verdict(r["p99_vs_gunicorn"], 1.2, at_most=True)))
    rows.append(("p50 on `/` at the same rate: ours − Gunicorn alone (ms)", r["p50_minus_gunicorn_ms"], "≤ 1 ms",
                 verdict(r["p50_minus_gunicorn_ms"], 1.0, at_most=True)))
    # The same targets for each variant of the role: flask_nginx_gunicorn_access_log: false
    # (`quiet`, what the journal line per request costs), the gevent worker class (`gevent`).
    for v, variant in VARIANTS.items():
        tag = variant["tag"]
        for route, value in r.get(f"{v}_vs_gunicorn", {}).items():
            rows.append((f"{tag} ours ÷ Gunicorn alone, `{route}`", value, "≥ 1.0", verdict(value, 1.0)))
        for route, value in r.get(f"{v}_vs_seed", {}).items():
            rows.append((f"{tag} ours ÷ seed block, `{route}`", value, "≥ 1.0", verdict(value, 1.0)))
        if r.get(f"{v}_p99_vs_gunicorn") is not None:
            rows.append((f"{tag} p99 on `/`: ours ÷ Gunicorn alone", r[f"{v}_p99_vs_gunicorn"], "≤ 1.2",
                         verdict(r[f"{v}_p99_vs_gunicorn"], 1.2, at_most=True)))
            rows.append((f"{tag} p50 on `/`: ours − Gunicorn alone (ms)", r[f"{v}_p50_minus_gunicorn_ms"],
                         "≤ 1 ms", verdict(r[f"{v}_p50_minus_gunicorn_ms"], 1.0, at_most=True)))
    for step in GAP_STEPS:
        for route, value in r.get(f"{step[0]}_vs_{step[1]}", {}).items():
            rows.append((f"gap, {GAP_TEXT[step]}, `{route}`", value, "", ""))
    if r.get("bare_p99_vs_gunicorn") is not None:
        rows.append(("gap, the hop at the fixed rate: p99 of the thinnest Nginx ÷ Gunicorn alone",
                     r["bare_p99_vs_gunicorn"], "", ""))
        rows.append(("gap, the hop at the fixed rate: p50 of the thinnest Nginx − Gunicorn alone (ms)",
                     r["bare_p50_minus_gunicorn_ms"], "", ""))
    rows.append((f"ours: fast clients with {SLOW_CLIENTS} slow clients ÷ without", r["ours_slow_clients"],
                 "≥ 0.90, zero 5xx", verdict(r["ours_slow_clients"], 0.9)))
    rows.append(("Gunicorn alone: same (for contrast)", r["gunicorn_slow_clients"], "", ""))
    s = c["single"]
    rows.append((f"idempotent single-host re-run, s ({s['again_tasks_run']} tasks run)", s["again_s"], "≤ 12 s",
                 verdict(s["again_s"], 12, at_most=True)))
    if s.get("module_run_s") and s.get("again_module_runs"):
        rows.append((f"of it, module runs on the host: {s['again_module_runs']} `docker exec` × {s['module_run_s']} s "
                     "(one read-only module run on this connection), s",
                     round(s["again_module_runs"] * s["module_run_s"], 1), "", ""))
    if "single_mitogen" in c:
        m = c["single_mitogen"]
        rows.append((f"same with Mitogen (opt-in), s ({m['again_tasks_run']} tasks run)", m["again_s"], "≤ 12 s",
                     verdict(m["again_s"], 12, at_most=True)))
    if "fleet" in c:
        rows.append((f"fleet 1 + {c['fleet']['hosts'] - 1} first converge ÷ single host", r["fleet_vs_single"],
                     "≤ 1.5", verdict(r["fleet_vs_single"], 1.5, at_most=True)))
        if c["fleet"].get("first_cpu_s") and s.get("first_cpu_s"):
            cores = results["machine"]["cores"]
            rows.append((f"its floor: the fleet's CPU time ({c['fleet']['first_cpu_s']} s, single host "
                         f"{s['first_cpu_s']} s) ÷ {cores} cores ÷ the single host's time",
                         round(c["fleet"]["first_cpu_s"] / cores / s["first_s"], 2), "", ""))
    return rows


def write_results(results):
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    t, s = results["throughput"], results["settings"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['date']} on {results['machine']['cores']} cores ({results['machine']['cpu']}), "
        f"`make bench` in {results['total_s']} s. Every setup serves the same release of the sample app "
        "in one Debian 12 container; the load generators run in the container against 127.0.0.1. "
        f"Throughput: wrk, {s['wrk_connections']} connections, {s['wrk_seconds']} s runs, {s['rounds']} "
        "interleaved rounds; a ratio is the median of the per-round ratios. Latency: hey at a fixed rate "
        f"({s['hey_workers']} workers), {s['latency_seconds']} s runs, {s['rounds']} interleaved rounds.",
        "",
        "Versions: " + ", ".join(f"{k} `{v}`" for k, v in results["versions"].items()),
        "",
        "## Targets",
        "",
        "| what | measured | target | |",
        "|---|---|---|---|",
    ] + [f"| {what} | {value} | {target} | {v} |" for what, value, target, v in ratio_rows(results)] + [
        "",
        "## Throughput (median of the rounds) and latency at saturation",
        "",
        "| setup | route | req/s | each round | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setup, routes in t.items():
        for route, m in routes.items():
            lines.append(f"| {SETUPS[setup]['label']} | {route} | {m['rps']:.0f} | "
                         f"{' · '.join(f'{x:.0f}' for x in m['runs'])} | {m['p50_ms']:.2f} | "
                         f"{m['p99_ms']:.2f} | {m['non_2xx']} | {m['socket_errors']} |")
    lat = results["latency"]
    lines += ["", f"## Latency on `/` at a fixed rate of {lat['rate']:.0f} req/s (half of Gunicorn alone's "
                  "throughput)", "",
              "| setup | achieved req/s (median) | rate held (≥ 95 %) in every round | p50 ms | p99 ms | non-200 "
              "| CPU µs per request |", "|---|---|---|---|---|---|---|"]
    for setup, m in lat["summary"].items():
        cpu_text = ", ".join(f"{k} {v:.0f}" for k, v in m["cpu_us_per_request"].items())
        lines.append(f"| {SETUPS[setup]['label']} | {m['achieved_rps']:.0f} | {'yes' if m['rate_held'] else 'no'} | "
                     f"{m['p50_ms']:.2f} | "
                     f"{m['p99_ms']:.2f} | {m['non_200']} | {cpu_text} |")
    lines += ["", f"## {SLOW_CLIENTS} slow clients (fast clients on `/`)", "",
              "| setup | req/s without | req/s with | p99 ms with | non-2xx with |", "|---|---|---|---|---|"]
    for setup, case in results["slow_clients"].items():
        lines.append(f"| {SETUPS[setup]['label']} | {case['without']['rps']:.0f} | {case['with']['rps']:.0f} | "
                     f"{case['with']['p99_ms']:.2f} | {case['with']['non_2xx']} |")
    c = results["converge"]
    lines += ["", "## Converge time (Docker connection)", "",
              "| what | first run | CPU time of the first run (whole machine) | of it, the controller's "
              "(Ansible, docker clients) | tasks run | idempotent re-run | tasks run (skipped) | module runs "
              "| changed on re-run |",
              "|---|---|---|---|---|---|---|---|---|"]
    for key, label in (("single", "single host"), ("single_mitogen", "single host, Mitogen"),
                       ("fleet", "fleet: 1 load balancer + 4 app hosts"), ("fleet_mitogen", "fleet, Mitogen")):
        if key in c:
            x = c[key]
            first = f"{x['first_s']} s" if "first_s" in x else "(fails: apt's python3-apt install)"
            cpu_text = f"{x['first_cpu_s']} s" if "first_cpu_s" in x else ""
            own_text = f"{x['first_controller_cpu_s']} s" if "first_controller_cpu_s" in x else ""
            lines.append(f"| {label} | {first} | {cpu_text} | {own_text} | {x.get('first_tasks_run', '')} | "
                         f"{x['again_s']} s | "
                         f"{x['again_tasks_run']} ({x['again_skipped']}) | {x.get('again_module_runs', '')} | "
                         f"{x['again_changed']} |")
    if "docker_exec_python_ms" in c["single"]:
        lines += ["", f"One `docker exec` of `python3 -c pass` (the least a task costs on this connection): "
                      f"{c['single']['docker_exec_python_ms']} ms."]
    lines += ["", "Slowest tasks of the single-host re-run (ansible.posix.profile_tasks):", ""]
    lines += [f"- {name}: {secs:.2f} s" for name, secs in c["single"]["again_slowest"]]
    for key, label in (("single", "single-host"), ("fleet", "fleet's")):
        if c.get(key, {}).get("first_slowest"):
            lines += ["", f"Slowest tasks of the {label} first converge:", ""]
            lines += [f"- {name}: {secs:.2f} s" for name, secs in c[key]["first_slowest"]]
    lines += ["", "![requests per second](results.png)", ""]
    (BENCH / "results.md").write_text("\n".join(lines))


def chart(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes = list(ROUTES)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
    setups = [setup for setup in SETUPS if setup in results["throughput"]]
    width = 0.8 / len(setups)
    for i, setup in enumerate(setups):
        values = [results["throughput"][setup][route]["rps"] if route in MATRIX[setup] else 0 for route in routes]
        ax.bar([x + i * width for x in range(len(routes))], values, width, label=SETUPS[setup]["label"])
    ax.set_xticks([x + (len(setups) - 1) / 2 * width for x in range(len(routes))], routes)
    ax.set_ylabel("requests per second (median of rounds)")
    ax.set_yscale("log")
    ax.set_title(f"flask-nginx benchmark, {results['machine']['cores']} cores, {results['date']}")
    ax.legend()
    lat = results["latency"]["summary"]
    for i, setup in enumerate(lat):
        ax2.bar([i - 0.2, i + 0.2], [lat[setup]["p50_ms"], lat[setup]["p99_ms"]], 0.4,
                color=["tab:blue", "tab:red"], label=["p50", "p99"] if i == 0 else None)
    ax2.set_xticks(range(len(lat)), [SETUPS[s]["label"] for s in lat])
    ax2.set_ylabel("ms")
    ax2.set_title(f"`/` at {results['latency']['rate']:.0f} req/s")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(BENCH / "results.png", dpi=110)


RESULTS_PAGE = ROOT / "docs" / "performance.md"
RESULTS_BEGIN = "<!-- BEGIN BENCH RESULTS (bench/run.py writes this block from bench/results.json) -->"
RESULTS_END = "<!-- END BENCH RESULTS -->"


def results_block(results):
    """The results block of docs/performance.md: date, hardware, versions, every target with its value."""
    m, v = results["machine"], results["versions"]
    lat = results["latency"]["summary"]
    lines = [
        RESULTS_BEGIN,
        f"### Results ({results['date']}, {m['cores']} cores, {m['cpu']})",
        "",
        f"From one locked run of `make bench` ({results['total_s']} s) on the {m['cores']}-core machine "
        f"CI uses ({m['cpu']}, `nproc` = {m['cores']}); {v['nginx'].replace('nginx version: ', '')}, "
        f"{v['gunicorn']}, {v['python']} in the container, {v['ansible']} on the controller. "
        "Full tables: [bench/results.md](../bench/results.md), chart: [bench/results.png](../bench/results.png), "
        "every round: `bench/results.json`.",
        "",
        f"| target (one run, side by side, median of {results['settings']['rounds']} interleaved rounds) | measured | target | |",
        "|---|---|---|---|",
    ] + [f"| {what} | {value} | {target} | {verdict_text} |" for what, value, target, verdict_text in ratio_rows(results)]
    lines += [
        "",
        f"At {results['latency']['rate']:.0f} req/s on `/`: Gunicorn alone p50 {lat['gunicorn']['p50_ms']:.2f} ms, "
        f"p99 {lat['gunicorn']['p99_ms']:.2f} ms; ours p50 {lat['ours']['p50_ms']:.2f} ms, p99 {lat['ours']['p99_ms']:.2f} ms "
        f"(rate held: {'yes' if lat['gunicorn']['rate_held'] and lat['ours']['rate_held'] else 'no'}). CPU time per "
        "request at that rate: Gunicorn alone "
        + ", ".join(f"{k} {x:.0f} µs" for k, x in lat["gunicorn"]["cpu_us_per_request"].items())
        + "; ours " + ", ".join(f"{k} {x:.0f} µs" for k, x in lat["ours"]["cpu_us_per_request"].items())
        + (f"; the thinnest Nginx (bare) " + ", ".join(f"{k} {x:.0f} µs" for k, x in lat["bare"]["cpu_us_per_request"].items())
           + f", p50 {lat['bare']['p50_ms']:.2f} ms, p99 {lat['bare']['p99_ms']:.2f} ms" if "bare" in lat else "")
        + "".join(f"; ours {VARIANTS[v]['text']} " + ", ".join(f"{k} {x:.0f} µs" for k, x in lat[v]["cpu_us_per_request"].items())
                  + f", p50 {lat[v]['p50_ms']:.2f} ms, p99 {lat[v]['p99_ms']:.2f} ms" for v in VARIANTS if v in lat)
        + ".",
        RESULTS_END,
    ]
    return "\n".join(lines)


def write_results_page(results):
    """Rewrite the results block of docs/performance.md; the rest of the page stays as it is."""
    text = RESULTS_PAGE.read_text()
    if RESULTS_BEGIN in text and RESULTS_END in text:
        start, end = text.index(RESULTS_BEGIN), text.index(RESULTS_END) + len(RESULTS_END)
        RESULTS_PAGE.write_text(text[:start] + results_block(results) + text[end:])


def report(results):
    """Ratios, results.json, results.md, the chart and the block of docs/performance.md, from the measurements."""
    results["latency"]["summary"] = {setup: latency_summary(rs) for setup, rs in results["latency"]["runs"].items()}
    results["ratios"] = ratios(results)
    results["targets"] = TARGETS
    write_results(results)
    chart(results)
    write_results_page(results)
    for what, value, target, v in ratio_rows(results):
        print(f"  {what}: {value} (target {target or '-'}) {v.replace('*', '')}")
    print(f"wrote {BENCH / 'results.md'}, results.json, results.png")


if __name__ == "__main__":
    if sys.argv[1:] == ["--report"]:  # re-render from bench/results.json
        report(json.loads((BENCH / "results.json").read_text()))
    else:
        sys.exit(main())
