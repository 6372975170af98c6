"""What the benchmark writes, from its measurements: bench/results.json (every round),
bench/results.md (every table), bench/results.png (the chart) and the results block of
docs/performance.md (the rest of that page stays as it is)."""
import json

from . import measurements
from .settings import BENCH, ROOT, ROUTES, MATRIX, SETUPS, SLOW_CLIENTS, TARGETS, VARIANTS, GAP_STEPS, GAP_TEXT

RESULTS_PAGE = ROOT / "docs" / "performance.md"
RESULTS_BEGIN = "<!-- BEGIN BENCH RESULTS (python -m bench writes this block from bench/results.json) -->"
RESULTS_END = "<!-- END BENCH RESULTS -->"


def verdict(value, target, at_most=False):
    if value is None:
        return "not measured"
    return "met" if (value <= target if at_most else value >= target) else "**missed**"


def ratio_rows(results):
    """(what, value, target text, verdict) for every target."""
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
    rows += variant_rows(r) + gap_rows(r)
    rows.append((f"ours: fast clients with {SLOW_CLIENTS} slow clients ÷ without", r["ours_slow_clients"],
                 "≥ 0.90, zero 5xx", verdict(r["ours_slow_clients"], 0.9)))
    rows.append(("Gunicorn alone: same (for contrast)", r["gunicorn_slow_clients"], "", ""))
    return rows + converge_rows(results, r, c)


def variant_rows(r):
    """The same targets for each variant of the role: flask_nginx_gunicorn_access_log: false
    (`quiet`, what the journal line per request costs), the gevent worker class (`gevent`)."""
    rows = []
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
    return rows


def gap_rows(r):
    rows = []
    for step in GAP_STEPS:
        for route, value in r.get(f"{step[0]}_vs_{step[1]}", {}).items():
            rows.append((f"gap, {GAP_TEXT[step]}, `{route}`", value, "", ""))
    if r.get("bare_p99_vs_gunicorn") is not None:
        rows.append(("gap, the hop at the fixed rate: p99 of the thinnest Nginx ÷ Gunicorn alone",
                     r["bare_p99_vs_gunicorn"], "", ""))
        rows.append(("gap, the hop at the fixed rate: p50 of the thinnest Nginx − Gunicorn alone (ms)",
                     r["bare_p50_minus_gunicorn_ms"], "", ""))
    return rows


def converge_rows(results, r, c):
    s = c["single"]
    rows = [(f"idempotent single-host re-run, s ({s['again_tasks_run']} tasks run)", s["again_s"], "≤ 12 s",
             verdict(s["again_s"], 12, at_most=True))]
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


def intro_lines(results):
    s = results["settings"]
    return [
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
    ]


def targets_lines(results):
    return ["## Targets", "", "| what | measured | target | |", "|---|---|---|---|"] + [
        f"| {what} | {value} | {target} | {v} |" for what, value, target, v in ratio_rows(results)]


def throughput_lines(results):
    lines = ["", "## Throughput (median of the rounds) and latency at saturation", "",
             "| setup | route | req/s | each round | p50 ms | p99 ms | non-2xx | socket errors |",
             "|---|---|---|---|---|---|---|---|"]
    for setup, routes in results["throughput"].items():
        for route, m in routes.items():
            lines.append(f"| {SETUPS[setup]['label']} | {route} | {m['rps']:.0f} | "
                         f"{' · '.join(f'{x:.0f}' for x in m['runs'])} | {m['p50_ms']:.2f} | "
                         f"{m['p99_ms']:.2f} | {m['non_2xx']} | {m['socket_errors']} |")
    return lines


def latency_lines(results):
    lat = results["latency"]
    lines = ["", f"## Latency on `/` at a fixed rate of {lat['rate']:.0f} req/s (half of Gunicorn alone's "
                 "throughput)", "",
             "| setup | achieved req/s (median) | rate held (≥ 95 %) in every round | p50 ms | p99 ms | non-200 "
             "| CPU µs per request |", "|---|---|---|---|---|---|---|"]
    for setup, m in lat["summary"].items():
        cpu_text = ", ".join(f"{k} {v:.0f}" for k, v in m["cpu_us_per_request"].items())
        lines.append(f"| {SETUPS[setup]['label']} | {m['achieved_rps']:.0f} | {'yes' if m['rate_held'] else 'no'} | "
                     f"{m['p50_ms']:.2f} | "
                     f"{m['p99_ms']:.2f} | {m['non_200']} | {cpu_text} |")
    return lines


def slow_client_lines(results):
    lines = ["", f"## {SLOW_CLIENTS} slow clients (fast clients on `/`)", "",
             "| setup | req/s without | req/s with | p99 ms with | non-2xx with |", "|---|---|---|---|---|"]
    for setup, case in results["slow_clients"].items():
        lines.append(f"| {SETUPS[setup]['label']} | {case['without']['rps']:.0f} | {case['with']['rps']:.0f} | "
                     f"{case['with']['p99_ms']:.2f} | {case['with']['non_2xx']} |")
    return lines


CONVERGES = (("single", "single host"), ("single_mitogen", "single host, Mitogen"),
             ("fleet", "fleet: 1 load balancer + 4 app hosts"), ("fleet_mitogen", "fleet, Mitogen"))


def converge_lines(results):
    c = results["converge"]
    lines = ["", "## Converge time (Docker connection)", "",
             "| what | first run | CPU time of the first run (whole machine) | of it, the controller's "
             "(Ansible, docker clients) | tasks run | idempotent re-run | tasks run (skipped) | module runs "
             "| changed on re-run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, label in CONVERGES:
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
    return lines


def results_markdown(results):
    """The text of bench/results.md."""
    return "\n".join(intro_lines(results) + targets_lines(results) + throughput_lines(results)
                     + latency_lines(results) + slow_client_lines(results) + converge_lines(results)
                     + ["", "![requests per second](results.png)", ""])


def write_results(results, out=BENCH):
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(results_markdown(results))


def chart(results, out=BENCH):
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
    fig.savefig(out / "results.png", dpi=110)


def cpu_text(parts):
    return ", ".join(f"{k} {x:.0f} µs" for k, x in parts.items())


def fixed_rate_sentence(results):
    """The line under the block's table: each setup at the fixed rate, with its CPU per request."""
    lat = results["latency"]["summary"]
    text = (f"At {results['latency']['rate']:.0f} req/s on `/`: Gunicorn alone p50 {lat['gunicorn']['p50_ms']:.2f} ms, "
            f"p99 {lat['gunicorn']['p99_ms']:.2f} ms; ours p50 {lat['ours']['p50_ms']:.2f} ms, p99 {lat['ours']['p99_ms']:.2f} ms "
            f"(rate held: {'yes' if lat['gunicorn']['rate_held'] and lat['ours']['rate_held'] else 'no'}). CPU time per "
            "request at that rate: Gunicorn alone " + cpu_text(lat["gunicorn"]["cpu_us_per_request"])
            + "; ours " + cpu_text(lat["ours"]["cpu_us_per_request"]))
    if "bare" in lat:
        text += (f"; the thinnest Nginx (bare) {cpu_text(lat['bare']['cpu_us_per_request'])}, "
                 f"p50 {lat['bare']['p50_ms']:.2f} ms, p99 {lat['bare']['p99_ms']:.2f} ms")
    for v in VARIANTS:
        if v in lat:
            text += (f"; ours {VARIANTS[v]['text']} {cpu_text(lat[v]['cpu_us_per_request'])}, "
                     f"p50 {lat[v]['p50_ms']:.2f} ms, p99 {lat[v]['p99_ms']:.2f} ms")
    return text + "."


def results_block(results):
    """The results block of docs/performance.md: date, hardware, versions, every target with its value."""
    m, v = results["machine"], results["versions"]
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
    lines += ["", fixed_rate_sentence(results), RESULTS_END]
    return "\n".join(lines)


def write_results_page(results, page=RESULTS_PAGE):
    """Rewrite the results block of docs/performance.md; the rest of the page stays as it is."""
    text = page.read_text()
    if RESULTS_BEGIN in text and RESULTS_END in text:
        start, end = text.index(RESULTS_BEGIN), text.index(RESULTS_END) + len(RESULTS_END)
        page.write_text(text[:start] + results_block(results) + text[end:])


def report(results, out=BENCH, page=RESULTS_PAGE):
    """Ratios, results.json, results.md, the chart and the block of docs/performance.md, from the measurements."""
    results["latency"]["summary"] = {setup: measurements.latency_summary(rs)
                                     for setup, rs in results["latency"]["runs"].items()}
    results["ratios"] = measurements.ratios(results)
    results["targets"] = TARGETS
    write_results(results, out)
    chart(results, out)
    write_results_page(results, page)
    for what, value, target, v in ratio_rows(results):
        print(f"  {what}: {value} (target {target or '-'}) {v.replace('*', '')}")
    print(f"wrote {out / 'results.md'}, results.json, results.png")
