"""The load generators, run inside the container against 127.0.0.1: wrk (throughput and
latency at saturation), hey at a fixed rate (latency), and slow clients that hold connections
(bench/slow_clients.py)."""
import contextlib
import csv
import io
import re

from .settings import CONNECTIONS, DURATION, LATENCY_SECONDS, NAME, SLOW_CLIENTS
from .shell import dexec


def wrk(path, port, extra, connections=CONNECTIONS, seconds=DURATION, host="shop.test"):
    out = dexec(NAME, f"wrk -t2 -c{connections} -d{seconds}s --latency -H 'Host: {host}' "
                      f"{' '.join(repr(a) if ' ' in a else a for a in extra)} http://127.0.0.1:{port}{path}").stdout
    return parse_wrk(out)


def parse_wrk(out):
    """Requests per second, p50 and p99 (ms), non-2xx answers and socket errors of wrk's report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50_ms": latency(50), "p99_ms": latency(99),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


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


@contextlib.contextmanager
def slow_clients(port, seconds, clients=SLOW_CLIENTS):
    """CLIENTS connections on PORT that trickle their headers for at most SECONDS, while the
    block runs (bench/slow_clients.py, copied into the container by the setups)."""
    dexec(NAME, f"nohup python3 /root/slow_clients.py 127.0.0.1 {port} {clients} {seconds} "
                ">/dev/null 2>&1 &")
    try:
        yield
    finally:
        dexec(NAME, "pkill -f slow_clients.py", check=False)
