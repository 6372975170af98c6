"""The benchmark's run, in order: the single host's converges, the alternatives beside it,
throughput rounds, the ablations in pairs, the fixed-rate rounds, slow clients, then the fleet, then the report.

  python -m bench             the whole run (scripts/bench.sh, `make bench`)
  python -m bench --report    re-render the outputs from bench/results.json
"""
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

from . import measurements, report, setups
from .settings import (BENCH, CONNECTIONS, DURATION, FLEET_APPS, LATENCY_SECONDS, NAME, PAIR_SECONDS, PAIRS,
                       RATE_TOLERANCE, ROOT, ROUNDS, SETUPS)
from .shell import STARTED, progress, sh


def new_results():
    """The run's date, machine and settings."""
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine()},
               "settings": {"wrk_connections": CONNECTIONS, "wrk_seconds": DURATION, "rounds": ROUNDS,
                            "latency_seconds": LATENCY_SECONDS, "hey_workers": CONNECTIONS,
                            "rate_tolerance": RATE_TOLERANCE, "ablation_pairs": PAIRS,
                            "ablation_pair_seconds": PAIR_SECONDS}}
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpu)
    if model:
        results["machine"]["cpu"] = model.group(1).strip()
    return results


def measure_throughput(results):
    runs = measurements.throughput_rounds()
    results["rounds"] = {setup: {route: [round(r["rps"], 1) for r in rs] for route, rs in routes.items()}
                         for setup, routes in runs.items()}
    results["throughput"] = {setup: {route: measurements.summarise(rs) for route, rs in routes.items()}
                             for setup, routes in runs.items()}
    results["ratio_rounds"] = measurements.throughput_ratio_rounds(runs)


def measure_latency(results):
    rate = results["throughput"]["gunicorn"]["dynamic /"]["rps"] / 2
    progress(f"latency at a fixed rate of {rate:.0f} req/s (half of Gunicorn alone's)")
    latency = measurements.latency_rounds(rate)
    results["latency"] = {"rate": round(rate, 1), "runs": latency}


def measure_fleet(converge_results, mitogen):
    progress(f"converging a fleet of 1 load balancer + {FLEET_APPS} app hosts")
    try:
        converge_results.update(setups.fleet_converge(converge_results["single"]["first_s"], mitogen))
    except SystemExit as failure:  # keep the measurements taken so far
        progress(f"the fleet converge failed: {str(failure)[-1500:]}")
        converge_results["fleet_error"] = str(failure)[-1500:]


def main():
    os.chdir(ROOT)
    results = new_results()
    mitogen = setups.mitogen_env() if os.environ.get("BENCH_MITOGEN", "1") == "1" else None
    progress("converging the single host")
    try:
        results["converge"] = setups.single_host(mitogen)
        progress("starting the alternatives")
        results.update(setups.prepare_alternatives())
        results["versions"] = setups.versions()
        measure_throughput(results)
        progress("the ablations, in pairs against the unchanged copy")
        results["ablation_pairs"] = measurements.ablation_pairs()
        measure_latency(results)
        results["slow_clients"] = {setup: measurements.slow_client_case(SETUPS[setup]["port"], setup)
                                   for setup in ("ours", "gunicorn")}
        progress("converging the micro-cache's app")
        try:
            setups.converge_cached()
            results["cache"] = measurements.cache_measurements()
        except (SystemExit, Exception) as failure:  # keep the measurements taken so far; the report says why
            progress(f"the cache run failed: {str(failure)[-1500:]}")
            results["cache"] = {"measured": False, "reason": f"not measured: the cache run failed ({str(failure)[-300:]})"}
    finally:
        sh("docker", "rm", "-f", NAME, check=False)
    if os.environ.get("BENCH_FLEET", "1") == "1":
        measure_fleet(results["converge"], mitogen)
    results["total_s"] = round(time.time() - STARTED)
    report.report(results)
    progress(f"done in {results['total_s']} s")


def cli(argv=None):
    """The whole run without arguments; --report re-renders from bench/results.json; anything
    else only prints how to run it (an unknown option never starts the benchmark)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if argv == ["--report"]:
        report.report(json.loads((BENCH / "results.json").read_text()))
        return 0
    if argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return main()


if __name__ == "__main__":
    sys.exit(cli())
