"""The load generators, run inside the container against 127.0.0.1: wrk (throughput and
latency at saturation), hey at a fixed rate (latency), and slow clients that hold connections
(bench/slow_clients.py)."""
import contextlib
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
    per worker). Returns hey's summary (parse_hey) and the target rate."""
    per_worker = rate / workers
    out = dexec(NAME, f"hey -z {seconds}s -c {workers} -q {per_worker:.3f} -disable-compression "
                      f"-host {host} http://127.0.0.1:{port}/", check=False).stdout
    return {**parse_hey(out), "target_rps": round(rate, 1)}


HEY_TOTAL = re.compile(r"^\s*Total:\s+([\d.]+) secs\s*$", re.M)
HEY_RPS = re.compile(r"^\s*Requests/sec:\s+([\d.]+)\s*$", re.M)
HEY_PERCENTILE = re.compile(r"^\s*(\d+)%+ in ([\d.]+) secs\s*$", re.M)
HEY_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses\s*$", re.M)
HEY_ERROR = re.compile(r"^\s*\[(\d+)\]\s+\S", re.M)


def parse_hey(out):
    """hey's summary (its default output): the answers by status, the errors, the run's wall
    time ("Total:"), the achieved rate (answers ÷ wall time: hey's own Requests/sec counts
    errors too), and p50/p99 from its latency distribution, in ms. Without a summary (hey
    prints none when no request got an answer) every count is 0 and the times are None."""
    summary, _, errors = out.partition("Error distribution:")
    status = {code: int(n) for code, n in HEY_STATUS.findall(summary)}
    percentiles = {int(p): round(float(s) * 1000, 3) for p, s in HEY_PERCENTILE.findall(summary)}
    total = HEY_TOTAL.search(summary)
    total_s = float(total.group(1)) if total else None
    answers = sum(status.values())
    failed = sum(int(n) for n in HEY_ERROR.findall(errors))
    hey_rps = HEY_RPS.search(summary)
    return {"requests": answers, "errors": failed, "status": status, "total_s": total_s,
            "hey_rps": float(hey_rps.group(1)) if hey_rps else None,
            "achieved_rps": round(answers / total_s, 1) if total_s else 0,
            "p50_ms": percentiles.get(50), "p99_ms": percentiles.get(99),
            "non_200": answers - status.get("200", 0) + failed}


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
