"""What is measured and how it is summed up: interleaved throughput and fixed-rate rounds (and
which fixed-rate runs count), the CPU time per request (per systemd unit, from /proc in the
container) and of converges, slow clients, and the ratios the targets are judged on. A
converge's phases are bench/phases.py's."""
import json
import os
import resource
import statistics
import time
from pathlib import Path

import yaml

from . import load
from .ablations import ABLATIONS, CONTROL, feature_cost_pct
from .settings import (ABLATION_FLAG_PCT, CACHE_VARIABLE, CACHED, DURATION, GAP_STEPS, MAIN_SETUPS, MATRIX, NAME,
                       PAIR_SECONDS, PAIRS, RATE_TOLERANCE, ROLE_DEFAULTS, ROUNDS, ROUTES, SETUPS, SLOW_CLIENTS,
                       VARIANTS)
from .shell import dexec, progress, sh

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


# --- CPU time -----------------------------------------------------------------------------------

def host_cpu_s():
    """CPU time the whole machine has spent busy (every process, containers included), in s."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def controller_cpu_s():
    """CPU time of this script's finished children: ansible-playbook, its forks and the docker
    clients they start (the controller's side of a converge), in s."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_snapshot():
    data = json.loads(sh("docker", "exec", "-i", NAME, "python3", "-", stdin=CPU_SNAPSHOT).stdout)
    return data["hz"], data["ticks"]


# --- throughput ---------------------------------------------------------------------------------

def summarise(runs):
    return {"rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "non_2xx": sum(r["non_2xx"] for r in runs),
            "socket_errors": sum(r["socket_errors"] for r in runs),
            "runs": [round(r["rps"], 1) for r in runs]}


def rotated(order, n):
    """ORDER started at its Nth element (round N's order: every setup goes first in turn)."""
    return order[n % len(order):] + order[:n % len(order)]


def wrk_on(setup, route, seconds=DURATION):
    """wrk on SETUP's port and host, on ROUTE's path and headers."""
    path, extra = ROUTES[route]
    return load.wrk(path, SETUPS[setup]["port"], extra, seconds=seconds, host=SETUPS[setup]["host"])


def throughput_rounds():
    """wrk on every (setup, route) of MATRIX, ROUNDS times, interleaved; one warm-up run first.
    The ablated copies are not among them: they have pairs of their own (ablation_pairs)."""
    pairs = [(route, setup) for route in ROUTES for setup in MAIN_SETUPS if route in MATRIX[setup]]
    for route, setup in pairs:
        wrk_on(setup, route, seconds=1)
    progress(f"warmed up {len(pairs)} setup/route pairs")
    runs = {setup: {route: [] for route in MATRIX[setup]} for setup in MAIN_SETUPS}
    for n in range(ROUNDS):
        for route in ROUTES:
            for setup in rotated(MAIN_SETUPS, n):
                if route not in MATRIX[setup]:
                    continue
                r = wrk_on(setup, route)
                runs[setup][route].append(r)
                progress(f"round {n + 1}/{ROUNDS} {setup:9} {route:16} {r['rps']:9.0f} req/s "
                         f"p99 {r['p99_ms']:.2f} ms")
    return runs


def per_round(ours, other):
    return [round(a["rps"] / b["rps"], 3) if b["rps"] else None for a, b in zip(ours, other)]


def throughput_ratio_rounds(runs):
    """Per round, the ratios the targets and the breakdown of the gap are judged on."""
    app_routes = ("dynamic /", "json /api/info")
    return {
        "ours_vs_gunicorn": {route: per_round(runs["ours"][route], runs["gunicorn"][route]) for route in app_routes},
        **{f"{v}_vs_{base}": {route: per_round(runs[v][route], runs[base][route]) for route in MATRIX[v]}
           for v in VARIANTS for base in ("gunicorn", "seed")},
        "ours_vs_seed": {route: per_round(runs["ours"][route], runs["seed"][route]) for route in MATRIX["seed"]},
        # Where the gap to Gunicorn alone goes: the hop itself (bare), what the role's server
        # block and the app's reading of its headers add (quiet ÷ bare), the journal line (ours ÷ quiet).
        **{f"{a}_vs_{b}": {route: per_round(runs[a][route], runs[b][route]) for route in app_routes}
           for a, b in GAP_STEPS},
        "static_vs_flask_dev": per_round(runs["ours"]["static css"], runs["flask-dev"]["static css"]),
        "static_vs_gunicorn": per_round(runs["ours"]["static css"], runs["gunicorn"]["static css"]),
    }


# --- ablations ----------------------------------------------------------------------------------

def ablation_pairs(pairs=PAIRS, seconds=PAIR_SECONDS, measure=None):
    """Each ablated copy against the unchanged one (CONTROL), per route: PAIRS back-to-back pairs
    of SECONDS-long wrk runs, the order alternating (control first, then the copy first), so that
    the two sides of a ratio ran seconds apart and the host's drift, which moves a setup's
    throughput by a third between rounds here, cancels out. Per-pair ratios ablated ÷ unchanged.
    MEASURE(setup, route) -> req/s is wrk unless given."""
    measure = measure or (lambda setup, route: wrk_on(setup, route, seconds)["rps"])
    out = {}
    for ablation in ABLATIONS:
        for route in MATRIX[ablation.key]:
            measure(ablation.key, route)  # warm-up: its connections to Gunicorn, its log file
            ratios = []
            for i in range(pairs):
                order = (CONTROL.key, ablation.key) if i % 2 == 0 else (ablation.key, CONTROL.key)
                got = {setup: measure(setup, route) for setup in order}
                ratios.append(round(got[ablation.key] / got[CONTROL.key], 3) if got[CONTROL.key] else None)
            out.setdefault(ablation.key, {})[route] = ratios
            progress(f"ablation {ablation.key:15} {route:16} ÷ unchanged: {ratios}")
    return out


# --- latency at a fixed rate --------------------------------------------------------------------

def latency_units():
    """The systemd units whose CPU time each fixed-rate setup is charged (journald's included:
    Gunicorn's access lines go there)."""
    units = {"gunicorn": {"gunicorn": "bench-gunicorn.service"},
             "bare": {"nginx": "nginx.service", "gunicorn": "gunicorn-quiet.service",
                      "journald": "systemd-journald.service"}}
    for setup, app in [("ours", "shop")] + [(v, VARIANTS[v]["vars"]["flask_nginx_app_name"]) for v in VARIANTS]:
        units[setup] = {"nginx": "nginx.service", "gunicorn": f"gunicorn-{app}.service",
                        "journald": "systemd-journald.service"}
    return units


def latency_rounds(rate):
    """Gunicorn alone, ours and its variants at the same fixed rate on `/`, interleaved (the order
    rotating), with the CPU time per request of each part."""
    units = latency_units()
    runs = {setup: [] for setup in units}
    for n in range(ROUNDS):
        for setup in rotated(list(units), n):
            hz, before = cpu_snapshot()
            r = load.hey_fixed_rate(SETUPS[setup]["port"], rate, host=SETUPS[setup]["host"])
            _, after = cpu_snapshot()
            r["cpu_us_per_request"] = {
                part: round((after.get(unit, 0) - before.get(unit, 0)) / hz * 1e6 / max(r["requests"], 1), 1)
                for part, unit in units[setup].items()}
            runs[setup].append(r)
            progress(f"latency round {n + 1}/{ROUNDS} {setup:9} {r['achieved_rps']:.0f}/{r['target_rps']:.0f} "
                     f"req/s p50 {ms(r['p50_ms'])} p99 {ms(r['p99_ms'])} cpu/req {r['cpu_us_per_request']}"
                     + (f" INVALID: {rate_problem(r)}" if rate_problem(r) else ""))
    return runs


def ms(value):
    return "—" if value is None else f"{value:.2f} ms"


def rate_problem(run, tolerance=RATE_TOLERANCE):
    """Why a fixed-rate run does not count, or None when it does: hey must have got answers and
    achieved its target rate (answers ÷ wall time) within ± TOLERANCE. hey's -q paces each worker
    only while its answers come back in time, so a slow setup gets fewer requests, and its
    latencies are then those of a lighter load."""
    if not run.get("requests"):
        return "no answer counted (hey printed no summary)"
    target, achieved = run["target_rps"], run["achieved_rps"]
    deviation = round((achieved / target - 1) * 100, 3)  # in %, rounded so that the limit itself holds
    if abs(deviation) > tolerance * 100:
        return f"achieved {achieved:.0f} req/s of {target:.0f} ({deviation:+.1f} %, beyond ± {tolerance * 100:g} %)"
    return None


def valid(run):
    return rate_problem(run) is None


def invalid_runs(latency_runs):
    """Every fixed-rate run that does not count: setup, round, rates and the reason."""
    return [{"setup": setup, "round": n, "achieved_rps": r["achieved_rps"], "target_rps": r["target_rps"],
             "reason": rate_problem(r)}
            for setup, runs in latency_runs.items() for n, r in enumerate(runs, 1) if not valid(r)]


def latency_ratio_rounds(latency):
    """Per round, ours and its variants against Gunicorn alone: p99 as a ratio, p50 as a difference
    (ms); None for a round where either run does not count."""
    out = {}
    for prefix, setup in [("", "ours"), ("bare_", "bare")] + [(f"{v}_", v) for v in VARIANTS]:
        pairs = [(o, g) if valid(o) and valid(g) else None for o, g in zip(latency[setup], latency["gunicorn"])]
        out[f"{prefix}p99_vs_gunicorn"] = [round(p[0]["p99_ms"] / p[1]["p99_ms"], 2) if p else None for p in pairs]
        out[f"{prefix}p50_minus_gunicorn_ms"] = [round(p[0]["p50_ms"] - p[1]["p50_ms"], 3) if p else None
                                                 for p in pairs]
    return out


def median_of(runs, key):
    return statistics.median(r[key] for r in runs) if runs else None


def latency_summary(runs):
    """A setup's fixed-rate runs summed up: latencies and CPU time from the runs that count only;
    the achieved rate and the errors from all of them."""
    counted = [r for r in runs if valid(r)]
    parts = runs[0]["cpu_us_per_request"].keys()
    return {"p50_ms": median_of(counted, "p50_ms"), "p99_ms": median_of(counted, "p99_ms"),
            "achieved_rps": median_of(runs, "achieved_rps"), "target_rps": runs[0]["target_rps"],
            "runs": len(runs), "valid_runs": len(counted), "rate_held": len(counted) == len(runs),
            "non_200": sum(r["non_200"] for r in runs),
            "cpu_us_per_request": {p: median_of([r["cpu_us_per_request"] for r in counted], p) for p in parts}}


# --- slow clients -------------------------------------------------------------------------------

def slow_client_case(port, label):
    """Fast clients on / with and without 50 slow clients holding connections."""
    without = summarise([load.wrk("/", port, []) for _ in range(3)])
    progress(f"slow clients {label:9} without {without['rps']:.0f} req/s")
    with load.slow_clients(port, DURATION * 3 + 10):
        time.sleep(3)
        with_slow = summarise([load.wrk("/", port, []) for _ in range(3)])
    progress(f"slow clients {label:9} with {SLOW_CLIENTS}: {with_slow['rps']:.0f} req/s")
    return {"without": without, "with": with_slow}


# --- the cache's targets ------------------------------------------------------------------------

def cache_measurements(defaults=ROLE_DEFAULTS, measure=None):
    """The cache's targets: a cached route at least 10 times the seed block on the same route,
    and with the app stopped a cached route still answering 200 (STALE) while the others show
    the role's error page. They need the role's cache (flask_nginx_cache_paths in its
    defaults); without it nothing is measured, and the report says why. MEASURE (the real
    measure_cache unless given) runs on the bench host, whose `cached` app is converged."""
    if CACHE_VARIABLE not in (yaml.safe_load(defaults.read_text()) or {}):
        return {"measured": False, "reason": "not measured: no cache in this version"}
    return (measure or measure_cache)()


def answer(path, host):
    """One GET through Nginx on port 80: status, X-Cache-Status and whether the body is the
    role's error page (its <main> element, no Nginx or app internals)."""
    out = dexec(NAME, f"curl -s -i --max-time 10 -H 'Host: {host}' http://127.0.0.1{path}", check=False).stdout
    # sh() reads text: its universal newlines have made curl's CRLF plain LF.
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    cache = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("x-cache-status:")), "")
    return {"status": status, "cache": cache, "error_page": "<main>" in body and "Traceback" not in body}


def measure_cache():
    """The cached route of the `cached` app against the seed block, interleaved, ROUNDS times;
    then the app's Gunicorn stopped (past the 1 s lifetime, so the kept page is expired) and the
    cached and an uncached route asked once each; Gunicorn started again."""
    path, extra = ROUTES[CACHED["route"]]
    places = {"cached": (CACHED["port"], CACHED["host"]), "seed": (SETUPS["seed"]["port"], SETUPS["seed"]["host"])}
    for port, host in places.values():
        load.wrk(path, port, extra, seconds=1, host=host)
    warm = answer(path, CACHED["host"])
    runs = {setup: [] for setup in places}
    for n in range(ROUNDS):
        for setup in rotated(list(places), n):
            port, host = places[setup]
            result = load.wrk(path, port, extra, host=host)
            runs[setup].append(result)
            progress(f"cache round {n + 1}/{ROUNDS} {setup:7} {CACHED['route']:16} {result['rps']:9.0f} req/s")
    rounds = per_round(runs["cached"], runs["seed"])
    unit = f"gunicorn-{CACHED['vars']['flask_nginx_app_name']}"
    time.sleep(2)
    dexec(NAME, f"systemctl stop {unit}.socket {unit}.service", check=False)
    try:
        stopped = dexec(NAME, f"systemctl is-active {unit}.service", check=False).stdout.strip()
        cached = answer(path, CACHED["host"])
        uncached = answer(ROUTES[CACHED["uncached_route"]][0], CACHED["host"])
    finally:
        dexec(NAME, f"systemctl start {unit}.socket {unit}.service", check=False)
    kept = (stopped != "active" and cached["status"] == 200 and cached["cache"] == "STALE"
            and uncached["status"] in (502, 503, 504) and uncached["error_page"])
    progress(f"cache: {median(rounds)} x the seed block; app stopped ({stopped}): cached {cached}, uncached {uncached}")
    return {"measured": True, "route": CACHED["route"], "warm": warm, "rounds": rounds,
            "runs": {setup: summarise(r) for setup, r in runs.items()},
            "cached_vs_seed": median(rounds), "app_stopped": "yes" if kept else "no",
            "app_stopped_answers": {"unit": stopped, "cached": cached, "uncached": uncached}}


# --- ratios -------------------------------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


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
    # Runs before 2026-12-04 measured the ablations in the rounds, against ours.
    out["ablations"] = ablation_costs(results.get("ablation_pairs", rr.get("ablations", {})))
    slow = results["slow_clients"]
    out["ours_slow_clients"] = round(slow["ours"]["with"]["rps"] / slow["ours"]["without"]["rps"], 2)
    out["gunicorn_slow_clients"] = round(slow["gunicorn"]["with"]["rps"] / slow["gunicorn"]["without"]["rps"], 2)
    return out


def ablation_costs(rounds):
    """Per ablation and route: the median ratio ablated ÷ unchanged, what the feature costs (in %
    of throughput), the middle half of the per-pair costs (their quartiles: how far one pair is
    from the next), and whether it is a default that costs more than ABLATION_FLAG_PCT."""
    out = {}
    for ablation in ABLATIONS:
        for route, values in rounds.get(ablation.key, {}).items():
            ratio = median(values)
            cost = feature_cost_pct(ratio, ablation.direction)
            out.setdefault(ablation.key, {})[route] = {
                "ratio": ratio, "cost_pct": cost, "spread_pct": cost_spread(values, ablation.direction),
                "flag": ablation.direction == "off" and cost is not None and cost > ABLATION_FLAG_PCT}
    return out


def cost_spread(values, direction):
    """The quartiles of the per-pair costs, low to high, or None with fewer than 2 pairs."""
    values = [v for v in values if v]
    if len(values) < 2:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return sorted(feature_cost_pct(q, direction) for q in (q1, q3))
