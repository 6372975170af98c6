#!/usr/bin/env python3
"""flask-nginx benchmark: the role's stack against the setups people would
otherwise pick, side by side, on the same app and the same host.

  make bench          (scripts/bench.sh: bootstrap, then this script)

Setups, all in one Debian 12 container with systemd (traffic stays on its
127.0.0.1; wrk runs inside it too, so every setup shares the same cores):
  flask-dev   Flask's development server (threaded), :5000
  gunicorn    Gunicorn alone, sync workers, (2 x CPUs) + 1, on 127.0.0.1:8000
  seed        Nginx with a blog post's server block: plain proxy_pass to the
              Gunicorn above, everything else default, :8081
  ours        the role: Nginx + Gunicorn (gthread) on a unix socket, :80

It also times converges: the single host (first run and idempotent re-run)
and a fleet of 1 load balancer + 4 app hosts.

Writes bench/results.json, bench/results.md and bench/results.png.
"""
import json
import os
import platform
import re
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
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SLOW_CLIENTS = 50
FLEET_APPS = int(os.environ.get("BENCH_FLEET_APPS", "4"))

SETUPS = {
    "flask-dev": {"port": 5000, "label": "Flask dev server"},
    "gunicorn": {"port": 8000, "label": "Gunicorn alone"},
    "seed": {"port": 8081, "label": "Nginx, blog-post config"},
    "ours": {"port": 80, "label": "flask-nginx role"},
}
ROUTES = {
    "dynamic /": ("/", []),
    "json /api/info": ("/api/info", []),
    "static css": ("/static/style.css", []),
    "static css gzip": ("/static/style.css", ["-H", "Accept-Encoding: gzip"]),
}
SEED_CONF = """# The server block from a typical blog post: proxy everything to Gunicorn.
server {
    listen 8081;
    server_name _;
    location / {
        proxy_pass http://127.0.0.1:8000;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
    }
}
"""


def sh(*args, check=True, capture=True, env=None):
    result = subprocess.run(args, check=False, capture_output=capture, text=True, env=env)
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


def converge(inventory, playbook="playbooks/site.yml"):
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    started = time.time()
    result = sh("ansible-playbook", "-i", str(inventory), str(ROOT / playbook), check=False, env=env)
    took = time.time() - started
    if result.returncode != 0:
        raise SystemExit(result.stdout[-4000:] + result.stderr[-2000:])
    changed = re.findall(r"changed=(\d+)", result.stdout)
    return took, sum(map(int, changed))


def wrk(path, port, extra, connections=CONNECTIONS, seconds=DURATION):
    out = dexec(NAME, f"wrk -t2 -c{connections} -d{seconds}s --latency -H 'Host: shop.test' "
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


def median_run(path, port, extra, **kwargs):
    runs = [wrk(path, port, extra, **kwargs) for _ in range(REPEAT)]
    return {"rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "non_2xx": sum(r["non_2xx"] for r in runs),
            "socket_errors": sum(r["socket_errors"] for r in runs),
            "runs": [round(r["rps"], 1) for r in runs]}


def prepare_alternatives():
    """Gunicorn alone, the Flask dev server and the seed config, on the same release."""
    pip_env = "PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1"
    dexec(NAME, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null")
    dexec(NAME, f"python3 -m venv /opt/bench && {pip_env} /opt/bench/bin/pip install -q "
                "-r /opt/shop/current/app/requirements.txt gunicorn==27.0.1")
    workers = int(dexec(NAME, "nproc").stdout) * 2 + 1
    app = "--working-directory=/opt/shop/current/app -p User=shop -E APP_NAME=shop"
    dexec(NAME, f"systemd-run --unit=bench-gunicorn {app} /opt/bench/bin/gunicorn "
                f"--workers {workers} --bind 127.0.0.1:8000 app:app")
    dexec(NAME, f"systemd-run --unit=bench-flask-dev {app} /opt/bench/bin/flask --app app run "
                "--host 127.0.0.1 --port 5000")
    dexec(NAME, f"cat > /etc/nginx/sites-enabled/bench-seed.conf <<'EOF'\n{SEED_CONF}EOF\n"
                "nginx -t -q && systemctl reload nginx")
    for port in (5000, 8000, 8081, 80):
        dexec(NAME, f"for i in $(seq 50); do curl -fs -o /dev/null -H 'Host: shop.test' "
                    f"http://127.0.0.1:{port}/healthz && exit 0; sleep 0.2; done; exit 1")
    sh("docker", "cp", str(BENCH / "slow_clients.py"), f"{NAME}:/root/slow_clients.py")
    return workers


def slow_client_case(port):
    """Fast clients on / with and without 50 slow clients holding connections."""
    without = median_run("/", port, [])
    seconds = DURATION * REPEAT + 10
    dexec(NAME, f"nohup python3 /root/slow_clients.py 127.0.0.1 {port} {SLOW_CLIENTS} {seconds} "
                ">/dev/null 2>&1 &")
    time.sleep(3)
    with_slow = median_run("/", port, [])
    dexec(NAME, "pkill -f slow_clients.py", check=False)
    return {"without": without, "with": with_slow}


def fleet_converge(single_first):
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
            "    flask_nginx_server_names: [shop.test]\n"
            "    flask_nginx_pip_ca_bundle: \"{{ lookup('ansible.builtin.env', 'FLASK_NGINX_PIP_CA_BUNDLE') }}\"\n")
        first, _ = converge(inventory)
        again, changed = converge(inventory)
        return {"hosts": len(names), "first_s": round(first, 1), "again_s": round(again, 1),
                "again_changed": changed, "first_vs_single": round(first / single_first, 2)}
    finally:
        for name in names:
            sh("docker", "rm", "-f", name, check=False)
        sh("docker", "network", "rm", network, check=False)


def versions():
    out = {}
    for key, cmd in {"nginx": "nginx -v 2>&1", "gunicorn": "/opt/shop/gunicorn/bin/gunicorn --version",
                     "python": "python3 --version", "debian": "cat /etc/debian_version",
                     "wrk": "wrk -v 2>&1 | head -1"}.items():
        out[key] = dexec(NAME, cmd, check=False).stdout.strip()
    out["ansible"] = sh("ansible", "--version").stdout.splitlines()[0]
    return out


def write_results(results):
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    r, t = results["ratios"], results["throughput"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['date']} on {results['machine']['cores']} cores ({results['machine']['cpu']}), "
        f"`make bench`; wrk {CONNECTIONS} connections, {DURATION} s runs, median of {REPEAT}. "
        "Every setup serves the same release of the sample app in one Debian 12 container; "
        "wrk runs in the container against 127.0.0.1.",
        "",
        "Versions: " + ", ".join(f"{k} `{v}`" for k, v in results["versions"].items()),
        "",
        "## Ratios",
        "",
        "| ratio | value | target |",
        "|---|---|---|",
        f"| ours ÷ Gunicorn direct, dynamic `/` | {r['ours_vs_gunicorn_dynamic']} | ≥ 0.90 |",
        f"| Nginx static ÷ Flask static (ours ÷ Flask dev server, CSS) | {r['nginx_static_vs_flask_static']} | ≥ 20 |",
        f"| Nginx static ÷ Flask static served by Gunicorn (sendfile) | "
        f"{r['nginx_static_vs_flask_on_gunicorn_static']} | (for contrast) |",
        f"| ours: fast clients with {SLOW_CLIENTS} slow clients ÷ without | {r['ours_slow_clients']} | ≥ 0.90, zero 5xx |",
        f"| Gunicorn direct: same | {r['gunicorn_slow_clients']} | (for contrast) |",
    ] + [f"| ours ÷ seed config, {route} | {value} | ≥ 1.0 |" for route, value in r["ours_vs_seed"].items()] + [
        "",
        "## Requests per second (median) and latency",
        "",
        "| setup | route | req/s | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for setup, routes in t.items():
        for route, m in routes.items():
            lines.append(f"| {SETUPS[setup]['label']} | {route} | {m['rps']:.0f} | {m['p50_ms']:.2f} | "
                         f"{m['p99_ms']:.2f} | {m['non_2xx']} | {m['socket_errors']} |")
    lines += ["", f"## {SLOW_CLIENTS} slow clients (fast clients on `/`)", "",
              "| setup | req/s without | req/s with | p99 ms with | non-2xx with |", "|---|---|---|---|---|"]
    for setup, case in results["slow_clients"].items():
        lines.append(f"| {SETUPS[setup]['label']} | {case['without']['rps']:.0f} | {case['with']['rps']:.0f} | "
                     f"{case['with']['p99_ms']:.2f} | {case['with']['non_2xx']} |")
    c = results["converge"]
    lines += ["", "## Converge time", "", "| what | first run | idempotent re-run | changed on re-run |",
              "|---|---|---|---|",
              f"| single host | {c['single']['first_s']} s | {c['single']['again_s']} s | {c['single']['again_changed']} |"]
    if "fleet" in c:
        f = c["fleet"]
        lines.append(f"| fleet: 1 load balancer + {f['hosts'] - 1} app hosts | {f['first_s']} s | {f['again_s']} s | "
                     f"{f['again_changed']} |")
        lines += ["", f"Fleet first converge ÷ single host first converge: **{f['first_vs_single']}** (target ≤ 1.5)."]
    lines += ["", "![requests per second](results.png)", ""]
    (BENCH / "results.md").write_text("\n".join(lines))


def chart(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes = list(ROUTES)
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.2
    for i, setup in enumerate(SETUPS):
        values = [results["throughput"][setup][route]["rps"] for route in routes]
        ax.bar([x + i * width for x in range(len(routes))], values, width, label=SETUPS[setup]["label"])
    ax.set_xticks([x + 1.5 * width for x in range(len(routes))], routes)
    ax.set_ylabel("requests per second (median)")
    ax.set_yscale("log")
    ax.set_title(f"flask-nginx benchmark, {results['machine']['cores']} cores, {results['date']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(BENCH / "results.png", dpi=110)


def main():
    os.chdir(ROOT)
    results = {"date": time.strftime("%Y-%m-%d"),
               "machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine()}}
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpu)
    if model:
        results["machine"]["cpu"] = model.group(1).strip()
    print("==> converging the single host", flush=True)
    start_container(NAME)
    try:
        first, _ = converge(BENCH / "inventory.yml")
        again, changed = converge(BENCH / "inventory.yml")
        results["converge"] = {"single": {"first_s": round(first, 1), "again_s": round(again, 1),
                                          "again_changed": changed}}
        print(f"    first {first:.1f} s, again {again:.1f} s ({changed} changed)", flush=True)
        print("==> starting the alternatives", flush=True)
        results["gunicorn_workers"] = prepare_alternatives()
        results["versions"] = versions()
        throughput = {}
        for setup, spec in SETUPS.items():
            throughput[setup] = {}
            for route, (path, extra) in ROUTES.items():
                print(f"==> {setup}: {route}", flush=True)
                throughput[setup][route] = median_run(path, spec["port"], extra)
        results["throughput"] = throughput
        print("==> slow clients", flush=True)
        results["slow_clients"] = {setup: slow_client_case(SETUPS[setup]["port"]) for setup in ("ours", "gunicorn")}
    finally:
        sh("docker", "rm", "-f", NAME, check=False)
    if os.environ.get("BENCH_FLEET", "1") == "1":
        print(f"==> converging a fleet of 1 load balancer + {FLEET_APPS} app hosts", flush=True)
        results["converge"]["fleet"] = fleet_converge(results["converge"]["single"]["first_s"])

    report(results)


def ratio(a, b):
    return round(a / b, 2) if b else None


def report(results):
    """Ratios, results.json, results.md and the chart, from the measurements."""
    t, slow = results["throughput"], results["slow_clients"]
    results["ratios"] = {
        "ours_vs_gunicorn_dynamic": ratio(t["ours"]["dynamic /"]["rps"], t["gunicorn"]["dynamic /"]["rps"]),
        "nginx_static_vs_flask_static": ratio(t["ours"]["static css"]["rps"], t["flask-dev"]["static css"]["rps"]),
        "nginx_static_vs_flask_on_gunicorn_static": ratio(t["ours"]["static css"]["rps"],
                                                          t["gunicorn"]["static css"]["rps"]),
        "ours_slow_clients": ratio(slow["ours"]["with"]["rps"], slow["ours"]["without"]["rps"]),
        "gunicorn_slow_clients": ratio(slow["gunicorn"]["with"]["rps"], slow["gunicorn"]["without"]["rps"]),
        "ours_vs_seed": {route: ratio(t["ours"][route]["rps"], t["seed"][route]["rps"]) for route in ROUTES},
    }
    write_results(results)
    chart(results)
    print(json.dumps(results["ratios"], indent=2))
    print(f"wrote {BENCH / 'results.md'}, results.json, results.png")


if __name__ == "__main__":
    if sys.argv[1:] == ["--report"]:  # re-render from bench/results.json
        report(json.loads((BENCH / "results.json").read_text()))
    else:
        sys.exit(main())
