"""What the benchmark writes, from its measurements: bench/results.json (every round),
bench/results.md (every table), bench/results.png (the chart) and the results block of
docs/performance.md (the rest of that page stays as it is)."""
import json

from . import measurements
from .ablations import ABLATIONS
from .phases import PHASES, Phases
from .settings import (ABLATION_FLAG_PCT, AT_MOST, BENCH, GAP_STEPS, GAP_TEXT, MATRIX, RATE_TOLERANCE, ROOT,
                       SETUPS, SIDE_BY_SIDE, SLOW_CLIENTS, TARGET_UNITS, TARGETS, VARIANTS)

RESULTS_PAGE = ROOT / "docs" / "performance.md"
RESULTS_BEGIN = "<!-- BEGIN BENCH RESULTS (python -m bench writes this block from bench/results.json) -->"
RESULTS_END = "<!-- END BENCH RESULTS -->"


def verdict(value, target, at_most=False):
    if value is None:
        return "not measured"
    return "met" if (value <= target if at_most else value >= target) else "**missed**"


def target_row(what, value, key, extra=""):
    """(what, value, target text, verdict) for the target KEY of TARGETS."""
    limit, at_most = TARGETS[key], key in AT_MOST
    text = f"{'≤' if at_most else '≥'} {limit:g}{TARGET_UNITS.get(key, '')}{extra}"
    return what, value, text, verdict(value, limit, at_most)


def ratio_rows(results):
    """(what, value, target text, verdict) for every target, and the figures that explain them."""
    r, c = results["ratios"], results["converge"]
    rows = [target_row(f"ours ÷ Gunicorn alone, `{route}`", value, "ours_vs_gunicorn")
            for route, value in r["ours_vs_gunicorn"].items()]
    rows += [target_row(f"ours ÷ seed block, `{route}`", value, "static_vs_seed" if route.startswith("static") else "ours_vs_seed")
             for route, value in r["ours_vs_seed"].items()]
    rows.append(target_row("static CSS: ours ÷ Flask dev server", r["static_vs_flask_dev"], "static_vs_flask_dev"))
    rows.append(("static CSS: ours ÷ Gunicorn alone (for contrast)", r["static_vs_gunicorn"], "", ""))
    counted = counted_rounds(results, "p99_vs_gunicorn")
    rows.append(target_row(f"p99 on `/` at {results['latency']['rate']:.0f} req/s: ours ÷ Gunicorn alone ({counted})",
                           r["p99_vs_gunicorn"], "p99_vs_gunicorn"))
    rows.append(target_row(f"p50 on `/` at the same rate: ours − Gunicorn alone (ms) ({counted})",
                           r["p50_minus_gunicorn_ms"], "p50_minus_gunicorn_ms"))
    rows += variant_rows(r) + gap_rows(r)
    rows.append(target_row(f"ours: fast clients with {SLOW_CLIENTS} slow clients ÷ without", r["ours_slow_clients"],
                           "slow_clients", ", zero 5xx"))
    rows.append(("Gunicorn alone: same (for contrast)", r["gunicorn_slow_clients"], "", ""))
    return rows + cache_rows(results) + converge_rows(results, r, c)


def cache_rows(results):
    """The cache's targets; not measured (with the reason) until the role caches and the
    benchmark's hook measures it (bench/measurements.py: cache_measurements)."""
    cache = results.get("cache") or {"reason": "not measured in this run"}
    rows = [target_row("cached route ÷ seed block, the same route", cache.get("cached_vs_seed"), "cached_vs_seed"),
            ("with the app stopped: a cached route answers 200, the others the role's error page",
             cache.get("app_stopped"), "yes", "met" if cache.get("app_stopped") == "yes" else "**missed**")]
    if not cache.get("measured"):
        rows = [(what, None, target, cache["reason"]) for what, _, target, _ in rows]
    return rows


def counted_rounds(results, key):
    """How many rounds a fixed-rate ratio is the median of: those where both runs held the rate."""
    values = results["latency"]["ratio_rounds"][key]
    return f"{sum(v is not None for v in values)} of {len(values)} rounds held the rate"


def variant_rows(r):
    """The same targets for each variant of the role: flask_nginx_gunicorn_access_log: false
    (`quiet`, what the journal line per request costs), the gevent worker class (`gevent`)."""
    rows = []
    for v, variant in VARIANTS.items():
        tag = variant["tag"]
        rows += [target_row(f"{tag} ours ÷ Gunicorn alone, `{route}`", value, "ours_vs_gunicorn")
                 for route, value in r.get(f"{v}_vs_gunicorn", {}).items()]
        rows += [target_row(f"{tag} ours ÷ seed block, `{route}`", value, "ours_vs_seed")
                 for route, value in r.get(f"{v}_vs_seed", {}).items()]
        if r.get(f"{v}_p99_vs_gunicorn") is not None:
            rows.append(target_row(f"{tag} p99 on `/`: ours ÷ Gunicorn alone", r[f"{v}_p99_vs_gunicorn"],
                                   "p99_vs_gunicorn"))
            rows.append(target_row(f"{tag} p50 on `/`: ours − Gunicorn alone (ms)", r[f"{v}_p50_minus_gunicorn_ms"],
                                   "p50_minus_gunicorn_ms"))
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
    rows = [target_row(f"idempotent single-host re-run, s ({s['again_tasks_run']} tasks run)", s["again_s"], "again_s")]
    if s.get("module_run_s") and s.get("again_module_runs"):
        rows.append((f"of it, module runs on the host: {s['again_module_runs']} `docker exec` × {s['module_run_s']} s "
                     "(one read-only module run on this connection), s",
                     round(s["again_module_runs"] * s["module_run_s"], 1), "", ""))
    if "single_mitogen" in c:
        m = c["single_mitogen"]
        rows.append(target_row(f"same with Mitogen (opt-in), s ({m['again_tasks_run']} tasks run)", m["again_s"],
                               "again_s"))
    if "fleet" in c:
        rows.append(target_row(f"fleet 1 + {c['fleet']['hosts'] - 1} first converge ÷ single host",
                               r["fleet_vs_single"], "fleet_vs_single"))
        if c["fleet"].get("first_cpu_s") and s.get("first_cpu_s"):
            cores = results["machine"]["cores"]
            rows.append((f"its floor: the fleet's CPU time ({c['fleet']['first_cpu_s']} s, single host "
                         f"{s['first_cpu_s']} s) ÷ {cores} cores ÷ the single host's time",
                         round(c["fleet"]["first_cpu_s"] / cores / s["first_s"], 2), "", ""))
    elif "fleet_error" in c:
        rows.append(target_row("fleet 1 + 4 first converge ÷ single host (the fleet's converge failed)", None,
                               "fleet_vs_single"))
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


def shown(value):
    return "—" if value is None else value


def table_rows(results):
    return [f"| {what} | {shown(value)} | {target} | {v} |" for what, value, target, v in ratio_rows(results)]


def targets_lines(results):
    return ["## Targets", "", "| what | measured | target | |", "|---|---|---|---|"] + table_rows(results)


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


def tolerance(results):
    return results["settings"].get("rate_tolerance", RATE_TOLERANCE)


def latency_lines(results):
    lat = results["latency"]
    lines = ["", f"## Latency on `/` at a fixed rate of {lat['rate']:.0f} req/s (half of Gunicorn alone's "
                 "throughput)", "",
             f"Only the runs that held the rate (within ± {tolerance(results) * 100:g} %) count; p50, p99 and "
             "the CPU time are medians of those.", "",
             "| setup | achieved req/s (median of all runs) | runs that held the rate | p50 ms | p99 ms | non-200 "
             "| CPU µs per request |", "|---|---|---|---|---|---|---|"]
    for setup, m in lat["summary"].items():
        lines.append(f"| {SETUPS[setup]['label']} | {m['achieved_rps']:.0f} | {m['valid_runs']} of {m['runs']} | "
                     f"{ms(m['p50_ms'])} | {ms(m['p99_ms'])} | {m['non_200']} | {cpu_text(m['cpu_us_per_request'])} |")
    return lines + ["", invalid_runs_text(results)]


def invalid_runs_text(results):
    """Which fixed-rate runs do not count, and why."""
    invalid = results["latency"]["invalid_runs"]
    if not invalid:
        return f"Every fixed-rate run held its rate (within ± {tolerance(results) * 100:g} %)."
    return "Runs that did not hold the rate (not counted): " + "; ".join(
        f"{SETUPS[x['setup']]['label']}, round {x['round']}: {x['reason']}" for x in invalid) + "."


def ms(value):
    return "—" if value is None else f"{value:.2f}"


def ablation_rows(results):
    """(feature, the role's variable, route, ablated ÷ unchanged, cost in %, spread, flag) per
    measured route."""
    costs = results["ratios"].get("ablations", {})
    rows = []
    for ablation in ABLATIONS:
        for route, m in costs.get(ablation.key, {}).items():
            flag = f"**a default that costs > {ABLATION_FLAG_PCT:g} %**" if m["flag"] else ""
            rows.append((ablation.feature, ablation.variable, route, m["ratio"], m["cost_pct"],
                         m.get("spread_pct"), flag))
    return rows


def ablation_lines(results, heading="##"):
    """The table of what each feature of the role's server block costs, or why it is missing."""
    rows = ablation_rows(results)
    lines = ["", f"{heading} What each feature of the role's server block costs (ablations)", ""]
    if not rows:
        return lines + ["Not measured in this run."]
    if "ablation_pairs" in results:
        pairs = results["settings"].get("ablation_pairs", "")
        seconds = results["settings"].get("ablation_pair_seconds", "")
        baseline = "unchanged"
        how = (f"measured in {pairs} back-to-back pairs of {seconds} s runs against an unchanged copy on a port "
               "of its own (the order alternating, so that the host's drift between rounds cancels out): its "
               "throughput ÷ the unchanged copy's (median of the per-pair ratios), what the feature costs in "
               "throughput, and the middle half of the per-pair costs (how far one pair lands from the next). "
               "The first row changes nothing: its cost and spread are what noise alone gives")
    else:
        baseline = "ours"
        how = ("measured in the same interleaved rounds as the setups: its throughput ÷ ours (median of the "
               "per-round ratios), and what the feature costs in throughput")
    head = (f"| feature | the role's variable | route | ablated ÷ {baseline} | cost of the feature "
            "| middle half of the pairs | |")
    lines += ["Each row is a copy of the role's site file with one feature changed, on its own port in front of "
              f"the same Gunicorn, {how}. For a feature the role leaves off the cost is what turning it on "
              "would cost; negative: the feature saves. A default that costs more than "
              f"{ABLATION_FLAG_PCT:g} % is marked: the docs say why it stays, or it changes.", "",
              head, "|---|---|---|---|---|---|---|"]
    lines += [f"| {feature} | {variable} | `{route}` | {shown(ratio)} | {percent(cost)} | {spread_text(spread)} | {flag} |"
              for feature, variable, route, ratio, cost, spread, flag in rows]
    checks = results.get("ablation_checks", {})
    if checks:
        lines += ["", "Checked on the live copies: " + "; ".join(
            f"`{key}`: {c['header']} from the unchanged copy {yes(c.get('unchanged', c.get('ours')))}, "
            f"from the ablated one {yes(c['ablated'])}" for key, c in checks.items()) + "."]
    return lines


def spread_text(spread):
    return "—" if not spread else f"{spread[0]:+.1f} … {spread[1]:+.1f} %"


def percent(cost):
    return "—" if cost is None else f"{cost:+.1f} %"


def yes(flag):
    return "yes" if flag else "no"


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


def converge_phases(converge):
    """The first converges by phase (single host, fleet), from every task's time; none when the
    run kept only the slowest tasks."""
    phases = Phases()
    return {key: phases.sum_up(converge[key]["first_tasks"], converge[key]["first_s"])
            for key in ("single", "fleet") if converge.get(key, {}).get("first_tasks")}


def phase_lines(results, heading="##"):
    """The first converge by phase, beside its total."""
    phases = results.get("phases", {})
    lines = ["", f"{heading} First converge by phase", ""]
    if "single" not in phases:
        return lines + ["Not measured in this run (it kept the slowest tasks only)."]
    keys = [key for key in ("single", "fleet") if key in phases]
    labels = {"single": "single host", "fleet": f"fleet, {results['converge'].get('fleet', {}).get('hosts', '')} hosts"}
    lines += ["From ansible.posix.profile_tasks' time of every task, each task put in a phase by its task file "
              "(bench/phases.py). A fleet's tasks run on its hosts at once: a task's time is the slowest host's.", "",
              "| phase | " + " | ".join(labels[k] for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for phase in PHASES:
        cells = [share(phases[k]["phases"][phase], phases[k]["tasks_s"]) for k in keys]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append("| **every task** | " + " | ".join(f"{phases[k]['tasks_s']} s" for k in keys) + " |")
    lines.append("| **the converge** (Ansible's start-up and the play's own work besides) | "
                 + " | ".join(f"{phases[k]['total_s']} s" for k in keys) + " |")
    return lines


def share(seconds, total):
    return f"{seconds} s ({seconds / total * 100:.0f} %)" if total else f"{seconds} s"


def results_markdown(results):
    """The text of bench/results.md."""
    return "\n".join(intro_lines(results) + targets_lines(results) + throughput_lines(results)
                     + latency_lines(results) + ablation_lines(results) + slow_client_lines(results)
                     + converge_lines(results) + phase_lines(results)
                     + ["", "![requests per second](results.png)", ""])


def write_results(results, out=BENCH):
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(results_markdown(results))


def chart(results, out=BENCH):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5), gridspec_kw={"width_ratios": [3, 1, 1.3]})
    throughput_chart(ax, results)
    latency_chart(ax2, results)
    ablation_chart(ax3, results)
    fig.tight_layout()
    fig.savefig(out / "results.png", dpi=110)


def throughput_chart(ax, results):
    routes = SIDE_BY_SIDE
    setups = [setup for setup in SETUPS if setup in results["throughput"] and setup not in MEASURED_ABLATIONS]
    width = 0.8 / len(setups)
    for i, setup in enumerate(setups):
        values = [results["throughput"][setup][route]["rps"] if route in MATRIX[setup] else 0 for route in routes]
        ax.bar([x + i * width for x in range(len(routes))], values, width, label=SETUPS[setup]["label"])
    ax.set_xticks([x + (len(setups) - 1) / 2 * width for x in range(len(routes))], routes)
    ax.set_ylabel("requests per second (median of rounds)")
    ax.set_yscale("log")
    ax.set_title(f"flask-nginx benchmark, {results['machine']['cores']} cores, {results['date']}")
    ax.legend()


def latency_chart(ax, results):
    lat = results["latency"]["summary"]
    for i, setup in enumerate(lat):  # a setup without a run that held the rate: no bar
        ax.bar([i - 0.2, i + 0.2], [lat[setup]["p50_ms"] or 0, lat[setup]["p99_ms"] or 0], 0.4,
               color=["tab:blue", "tab:red"], label=["p50", "p99"] if i == 0 else None)
    ax.set_xticks(range(len(lat)), [SETUPS[s]["label"] for s in lat])
    ax.set_ylabel("ms")
    ax.set_title(f"`/` at {results['latency']['rate']:.0f} req/s")
    ax.legend()


def ablation_chart(ax, results):
    costs = results["ratios"].get("ablations", {})
    keys = [a.key for a in ABLATIONS if "dynamic /" in costs.get(a.key, {})]
    values = [costs[key]["dynamic /"]["cost_pct"] or 0 for key in keys]
    ax.barh(range(len(keys)), values, color=["tab:red" if costs[k]["dynamic /"]["flag"] else "tab:gray" for k in keys])
    ax.set_yticks(range(len(keys)), keys)
    ax.axvline(ABLATION_FLAG_PCT, color="tab:red", linestyle=":")
    ax.set_xlabel("% of throughput on `/` the feature costs")
    ax.set_title("features of the role's server block")


MEASURED_ABLATIONS = {a.key for a in ABLATIONS}


def cpu_text(parts, unit=""):
    return ", ".join(f"{k} {'—' if x is None else f'{x:.0f}'}{unit}" for k, x in parts.items())


def at_fixed_rate(label, m):
    return (f"{label} p50 {ms(m['p50_ms'])} ms, p99 {ms(m['p99_ms'])} ms, "
            f"CPU per request {cpu_text(m['cpu_us_per_request'], ' µs')}")


def fixed_rate_sentence(results):
    """The lines under the block's table: each setup at the fixed rate (the runs that held it),
    with its CPU per request, and the runs that did not count."""
    lat = results["latency"]["summary"]
    parts = [at_fixed_rate("Gunicorn alone", lat["gunicorn"]), at_fixed_rate("ours", lat["ours"])]
    if "bare" in lat:
        parts.append(at_fixed_rate("the thinnest Nginx (bare)", lat["bare"]))
    parts += [at_fixed_rate(f"ours {VARIANTS[v]['text']}", lat[v]) for v in VARIANTS if v in lat]
    return (f"At {results['latency']['rate']:.0f} req/s on `/`: " + "; ".join(parts) + ".\n\n"
            + invalid_runs_text(results))


def results_block(results):
    """The results block of docs/performance.md: date, hardware, versions, every target with its value."""
    m, v = results["machine"], results["versions"]
    lines = [
        RESULTS_BEGIN,
        # The day only: the run's hour is in results.json, the page keeps no history of runs.
        f"### Results ({results['date'][:10]}, {m['cores']} cores, {m['cpu']})",
        "",
        f"From one locked run of `make bench` ({results['total_s']} s) on the {m['cores']}-core machine "
        f"CI uses ({m['cpu']}, `nproc` = {m['cores']}); {v['nginx'].replace('nginx version: ', '')}, "
        f"{v['gunicorn']}, {v['python']} in the container, {v['ansible']} on the controller. "
        "Full tables: [bench/results.md](../bench/results.md), chart: [bench/results.png](../bench/results.png), "
        "every round: `bench/results.json`.",
        "",
        f"| target (one run, side by side, median of {results['settings']['rounds']} interleaved rounds) "
        "| measured | target | |",
        "|---|---|---|---|",
    ] + table_rows(results)
    lines += (["", fixed_rate_sentence(results)] + ablation_lines(results, heading="####")
              + phase_lines(results, heading="####") + [RESULTS_END])
    return "\n".join(lines)


def write_results_page(results, page=RESULTS_PAGE):
    """Rewrite the results block of docs/performance.md; the rest of the page stays as it is."""
    text = page.read_text()
    if RESULTS_BEGIN in text and RESULTS_END in text:
        start, end = text.index(RESULTS_BEGIN), text.index(RESULTS_END) + len(RESULTS_END)
        page.write_text(text[:start] + results_block(results) + text[end:])


def summarise_latency(latency):
    """The fixed-rate runs judged again (so a re-rendered report applies the rate check too):
    per setup, the per-round ratios and the runs that do not count."""
    latency["summary"] = {setup: measurements.latency_summary(rs) for setup, rs in latency["runs"].items()}
    latency["ratio_rounds"] = measurements.latency_ratio_rounds(latency["runs"])
    latency["invalid_runs"] = measurements.invalid_runs(latency["runs"])


def report(results, out=BENCH, page=RESULTS_PAGE):
    """Ratios, results.json, results.md, the chart and the block of docs/performance.md, from the measurements."""
    summarise_latency(results["latency"])
    results["phases"] = converge_phases(results["converge"])
    results["ratios"] = measurements.ratios(results)
    results["targets"] = TARGETS
    write_results(results, out)
    chart(results, out)
    write_results_page(results, page)
    for what, value, target, v in ratio_rows(results):
        print(f"  {what}: {value} (target {target or '-'}) {v.replace('*', '')}")
    print(f"wrote {out / 'results.md'}, results.json, results.png")
