"""What the canary's hosts answered, read from a load balancer's JSON access log.

    python3 canary_stats.py LOG OFFSET ADDRESSES_JSON

Reads LOG from byte OFFSET (its size when the canary went back into rotation; from the
start if the log was rotated since) and counts every attempt Nginx made at one of the
ADDRESSES (ADDRESS:PORT, as $upstream_addr names them): a retried request counts at each
host it tried, so a canary's 502 that another host then answered is still its error.
Prints one JSON object: requests, errors (5xx), and the response times in whole
milliseconds as {ms: count} (the controller merges the load balancers' into one p99).
Lines that are not JSON (another format, a torn last line) are skipped and counted."""
import json
import os
import re
import sys

SPLIT = re.compile(r"\s*[,:]\s+|\s+:\s*")  # ", " between retries, " : " between internal redirects


def attempts(entry):
    addrs = [a for a in SPLIT.split(str(entry.get("upstream_addr", ""))) if a]
    statuses = [s for s in SPLIT.split(str(entry.get("upstream_status", ""))) if s]
    times = [t for t in SPLIT.split(str(entry.get("upstream_response_time", ""))) if t]
    if not statuses:  # a log line without upstream_status: the answer's status is the last attempt's
        statuses = [""] * (len(addrs) - 1) + [str(entry.get("status", ""))]
    for index, addr in enumerate(addrs):
        status = statuses[index] if index < len(statuses) else ""
        seconds = times[index] if index < len(times) else ""
        yield addr, status, seconds


def main(path, offset, addresses):
    wanted = set(addresses)
    out = {"requests": 0, "errors": 0, "times": {}, "skipped": 0}
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        print(json.dumps(out))
        return
    with open(path, "rb") as log:
        log.seek(offset if offset <= size else 0)
        for raw in log:
            try:
                entry = json.loads(raw)
            except ValueError:
                out["skipped"] += 1
                continue
            for addr, status, seconds in attempts(entry):
                if addr not in wanted:
                    continue
                out["requests"] += 1
                if status.startswith("5"):
                    out["errors"] += 1
                try:
                    ms = str(int(float(seconds) * 1000))
                except ValueError:
                    continue
                out["times"][ms] = out["times"].get(ms, 0) + 1
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))
