"""Where the setups come from: the containers, the role's converges (single host, its
variants, a fleet), and the alternatives beside the role on the same host (Gunicorn alone,
the Flask dev server, the seed and bare server blocks, the ablated copies of the role's
server block)."""
import json
import os
import re
import sys
import time

from .ablations import ABLATIONS, CONTROL, ablated_site
from .measurements import controller_cpu_s, host_cpu_s
from .phases import Phases, recap_tasks
from .settings import BENCH, CACHED, FLEET_APPS, IMAGE, NAME, ROOT, SETUPS, SITE_FILE, UPSTREAM_FILE, VARIANTS
from .shell import dexec, progress, sh

sys.path.insert(0, str(ROOT / "images"))
from systemd_container import docker_run_args  # noqa: E402  (systemd as PID 1: images/systemd-container.yml)

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
PIP_ENV = "PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1"


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


def playbook_env(extra_env, profile):
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **(extra_env or {})}
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "all"  # every task, for the phases
    return env


def module_runs(started, containers):
    """Module runs on the hosts since STARTED: with pipelining each is one `docker exec`
    (Docker's own count of exec_start events)."""
    events = sh("docker", "events", "--since", f"{started:.3f}", "--until", f"{time.time():.3f}",
                "--filter", "type=container", "--filter", "event=exec_start",
                *[arg for name in containers for arg in ("--filter", f"container={name}")],
                "--format", "{{.ID}}", check=False)
    return len(events.stdout.split())


def recap_counts(stdout):
    return {key: sum(map(int, re.findall(rf"\b{key}=(\d+)", stdout)))
            for key in ("ok", "changed", "skipped", "failed")}


def converge(inventory, playbook="playbooks/site.yml", extra_env=None, profile=False, extra_args=(),
             containers=(NAME,)):
    """Run a playbook; its time, the machine's CPU time meanwhile, the recap's counts and
    (profile) every task's time, slowest first, and the slowest."""
    env = playbook_env(extra_env, profile)
    # Mitogen takes over the `docker` connection by that name only (scripts/mitogen.sh).
    extra_args = [*extra_args, *(["-e", "ansible_connection=docker"] if extra_env else [])]
    started, cpu_before, own_before = time.time(), host_cpu_s(), controller_cpu_s()
    result = sh("ansible-playbook", "-i", str(inventory), str(ROOT / playbook), *extra_args, check=False, env=env)
    took, cpu = time.time() - started, host_cpu_s() - cpu_before
    own = controller_cpu_s() - own_before
    runs = module_runs(started, containers)
    if result.returncode != 0:
        raise SystemExit(result.stdout[-4000:] + result.stderr[-2000:])
    recap = recap_counts(result.stdout)
    out = {"s": round(took, 1), "cpu_s": round(cpu, 1), "controller_cpu_s": round(own, 1),
           "tasks_run": recap["ok"] + recap["failed"],
           "changed": recap["changed"], "skipped": recap["skipped"],
           "module_runs": runs}
    if profile:
        out["tasks"] = recap_tasks(result.stdout)
        out["slowest"] = out["tasks"][:8]
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
    progress(f"single host: first converge {first['s']} s ({first['tasks_run']} tasks run, CPU {first['cpu_s']} s), "
             f"by phase {Phases().sum_up(first['tasks'], first['s'])['phases']}")
    out = {"single": {"first_s": first["s"], "first_cpu_s": first["cpu_s"],
                      "first_controller_cpu_s": first["controller_cpu_s"], "first_tasks_run": first["tasks_run"],
                      "first_slowest": first["slowest"], "first_tasks": first["tasks"],
                      **rerun(BENCH / "inventory.yml", label="single host")}}
    if mitogen:
        out["single_mitogen"] = rerun(BENCH / "inventory.yml", mitogen, "single host with Mitogen")
    out["single"].update(connection_floor())
    return out


def connection_floor():
    """The floor under a task on this connection: a module run that only reads (21 runs less 1,
    so the playbook's start-up cancels out), and one `docker exec` starting Python."""
    one = converge(BENCH / "inventory.yml", "bench/floor.yml", extra_args=["-e", "runs=1"])
    many = converge(BENCH / "inventory.yml", "bench/floor.yml", extra_args=["-e", "runs=21"])
    out = {"module_run_s": round((many["s"] - one["s"]) / 20, 3)}
    progress(f"one module run on this connection: {out['module_run_s']} s")
    started = time.time()
    for _ in range(10):
        sh("docker", "exec", NAME, "/usr/bin/python3", "-c", "pass")
    out["docker_exec_python_ms"] = round((time.time() - started) * 100, 1)
    progress(f"one docker exec of python3: {out['docker_exec_python_ms']} ms")
    return out


def fleet_inventory(names):
    """The fleet's inventory file (bench/tmp/fleet.yml): the first name balances, the rest run the app."""
    inventory = BENCH / "tmp" / "fleet.yml"
    inventory.parent.mkdir(exist_ok=True)
    apps = "".join(f"        {n}:\n" for n in names[1:])
    inventory.write_text(
        f"---\nall:\n  children:\n    flask_lb:\n      hosts:\n        {names[0]}:\n"
        f"    flask_app:\n      hosts:\n{apps}"
        "  vars:\n    ansible_connection: community.docker.docker\n"
        "    ansible_python_interpreter: /usr/bin/python3\n    flask_nginx_app_name: shop\n"
        f"    flask_nginx_app_src: {ROOT / 'molecule' / 'test_app'}\n"
        "    flask_nginx_server_names: [shop.test]\n"
        "    flask_nginx_package_index:\n"
        "      ca_bundle: \"{{ lookup('ansible.builtin.env', 'FLASK_NGINX_PIP_CA_BUNDLE') | default('', true) }}\"\n")
    return inventory


def fleet_converge(single_first, mitogen=None):
    """1 load balancer + N app hosts on their own network: first and repeated converge."""
    network = "flask-nginx-bench-fleet"
    names = ["flask-nginx-bench-lb"] + [f"flask-nginx-bench-app{i}" for i in range(1, FLEET_APPS + 1)]
    sh("docker", "network", "create", network, check=False)
    try:
        for name in names:
            start_container(name, network=network)
        inventory = fleet_inventory(names)
        first = converge(inventory, profile=True, containers=names)
        progress(f"fleet: first converge {first['s']} s (CPU {first['cpu_s']} s)")
        out = {"fleet": {"hosts": len(names), "first_s": first["s"], "first_cpu_s": first["cpu_s"],
                         "first_controller_cpu_s": first["controller_cpu_s"],
                         "first_vs_single": round(first["s"] / single_first, 2),
                         "first_slowest": first["slowest"], "first_tasks": first["tasks"],
                         **rerun(inventory, label="fleet", containers=names)}}
        if mitogen:
            out["fleet_mitogen"] = {"hosts": len(names), **rerun(inventory, mitogen, "fleet with Mitogen", names)}
        return out
    finally:
        for name in names:
            sh("docker", "rm", "-f", name, check=False)
        sh("docker", "network", "rm", network, check=False)


def converge_variants():
    """The role again on the host for each variant (another app, one setting changed)."""
    for variant in VARIANTS.values():
        converge(BENCH / "inventory.yml", extra_args=["-e", json.dumps(variant["vars"])])


def converge_cached():
    """The role again on the host for the micro-cache's app (bench/settings.py: CACHED)."""
    converge(BENCH / "inventory.yml", extra_args=["-e", json.dumps(CACHED["vars"])])


def start_gunicorn_alone():
    """Gunicorn alone and the Flask dev server on the release the role deployed; returns
    Gunicorn's worker count (the role's: its gunicorn.conf.py takes (2 x CPUs) + 1, at most 12)."""
    dexec(NAME, f"python3 -m venv /opt/bench && {PIP_ENV} /opt/bench/bin/pip install -q "
                "-r /opt/shop/current/app/requirements.txt gunicorn==27.0.1")
    workers = min(int(dexec(NAME, "nproc").stdout) * 2 + 1, 12)
    app = "--working-directory=/opt/shop/current/app -p User=shop -E APP_NAME=shop"
    dexec(NAME, f"systemd-run --unit=bench-gunicorn {app} /opt/bench/bin/gunicorn "
                f"--workers {workers} --bind 127.0.0.1:8000 app:app")
    dexec(NAME, f"systemd-run --unit=bench-flask-dev {app} /opt/bench/bin/flask --app app run "
                "--host 127.0.0.1 --port 5000")
    return workers


def write_seed_and_bare():
    dexec(NAME, f"cat > /etc/nginx/sites-enabled/bench-seed.conf <<'EOF'\n{SEED_CONF}EOF\n"
                f"cat > /etc/nginx/sites-enabled/bench-bare.conf <<'EOF'\n{BARE_CONF}EOF\n"
                "nginx -t -q && systemctl reload nginx")


def install_ablations():
    """A copy of the role's site file per ablation (bench/ablations.py) and an unchanged one (their
    baseline), each on its own port and log file in front of ours's Gunicorn, each checked by
    `nginx -t` before the next (a copy Nginx refuses stops the run with Nginx's message), then
    one reload."""
    site = dexec(NAME, f"cat {SITE_FILE}").stdout
    upstream = dexec(NAME, f"cat {UPSTREAM_FILE}").stdout
    for ablation in (CONTROL, *ABLATIONS):
        path = f"/etc/nginx/sites-enabled/bench-ablation-{ablation.key}.conf"
        text = ablated_site(ablation, site, SETUPS[ablation.key]["port"], upstream, source=SITE_FILE)
        sh("docker", "exec", "-i", NAME, "bash", "-c",
           f"cat > {path} && {{ nginx -t -q || {{ nginx -t; rm -f {path}; exit 1; }}; }}", stdin=text)
    dexec(NAME, "systemctl reload nginx")
    progress(f"installed {len(ABLATIONS)} ablated copies of {SITE_FILE} and an unchanged one, each passed nginx -t")


# What an ablation visibly changes: a header of `/` (with the request headers given) that
# the unchanged copy sends and the ablated one must not.
ABLATION_PROBES = {"request-id-off": ("X-Request-ID", []), "headers-off": ("X-Frame-Options", []),
                   "gzip-off": ("Content-Encoding", ["Accept-Encoding: gzip"])}


def has_header(port, header, request_headers):
    sent = " ".join(f"-H '{h}'" for h in ["Host: shop.test", *request_headers])
    out = dexec(NAME, f"curl -s -o /dev/null -D - {sent} http://127.0.0.1:{port}/").stdout
    return any(line.lower().startswith(header.lower() + ":") for line in out.splitlines())


def check_ablations():
    """For the ablations a header shows: does the unchanged copy send it, and the ablated one not?"""
    out = {}
    for key, (header, request_headers) in ABLATION_PROBES.items():
        out[key] = {"header": header, "unchanged": has_header(SETUPS[CONTROL.key]["port"], header, request_headers),
                    "ablated": has_header(SETUPS[key]["port"], header, request_headers)}
        progress(f"ablation {key}: {header} from the unchanged copy {out[key]['unchanged']}, "
                 f"from the ablated one {out[key]['ablated']}")
    return out


def wait_until_every_setup_answers():
    for setup in SETUPS.values():
        dexec(NAME, f"for i in $(seq 50); do curl -fs -o /dev/null -H 'Host: {setup['host']}' "
                    f"http://127.0.0.1:{setup['port']}/healthz && exit 0; sleep 0.2; done; exit 1")


def prepare_alternatives():
    """The role's variants, Gunicorn alone, the Flask dev server, the seed and bare blocks and
    the ablated copies of ours, on the same release; returns Gunicorn alone's worker count and
    what the ablations' headers show."""
    converge_variants()
    dexec(NAME, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk hey curl >/dev/null")
    workers = start_gunicorn_alone()
    write_seed_and_bare()
    install_ablations()
    wait_until_every_setup_answers()
    # The seed serves the same bytes from disk.
    dexec(NAME, "cmp <(curl -fs -H 'Host: shop.test' http://127.0.0.1:8081/static/style.css) "
                "<(curl -fs -H 'Host: shop.test' http://127.0.0.1/static/style.css)")
    sh("docker", "cp", str(BENCH / "slow_clients.py"), f"{NAME}:/root/slow_clients.py")
    return {"gunicorn_workers": workers, "ablation_checks": check_ablations()}


def versions():
    out = {}
    for key, cmd in {"nginx": "nginx -v 2>&1", "gunicorn": "/opt/shop/gunicorn/bin/gunicorn --version",
                     "python": "python3 --version", "debian": "cat /etc/debian_version",
                     "wrk": "wrk -v 2>&1 | head -1", "hey": "dpkg-query -W -f '${Version}' hey"}.items():
        out[key] = dexec(NAME, cmd, check=False).stdout.strip()
    out["ansible"] = sh("ansible", "--version").stdout.splitlines()[0]
    return out
