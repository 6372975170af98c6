# flask-nginx health check: GET a URL the way a client of the named site would
# (Host header and TLS SNI carry the site's name). Exit 0 when the status is the
# expected one (200; 503 while the site is in maintenance) and, when the app runs
# here (CURRENT and UNIT given), Gunicorn's workers serve the release `current`
# points at: a graceful reload returns before its new workers are forked, and the
# old ones answer until then. Which release runs is read from the kernel (the
# newest worker started after `current` last changed) and from systemd (its
# main process), never from a file the app could write.
import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
from urllib.parse import urlsplit


def started(pid):
    """When process PID started, in seconds since the epoch (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))


def parent(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


url, name = urlsplit(sys.argv[1]), sys.argv[2]
expected = int(sys.argv[3]) if len(sys.argv) > 3 else 200
current, unit = (sys.argv[4:6] + ["", ""])[:2]
port = url.port or (443 if url.scheme == "https" else 80)
conn = http.client.HTTPConnection(name, port, timeout=10)
sock = socket.create_connection((url.hostname, port), timeout=10)
if url.scheme == "https":
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = context.wrap_socket(sock, server_hostname=name)
conn.sock = sock
conn.request("GET", url.path or "/", headers={"Host": name, "User-Agent": "flask-nginx-healthcheck"})
response = conn.getresponse()
body = response.read(300).decode("utf-8", "replace")
print(f"{url.geturl()} (as {name}) -> {response.status} {body}")
if response.status != expected:
    sys.exit(1)
if current and unit:
    main = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", unit],
                          capture_output=True, text=True, check=False).stdout.strip()
    main = int(main) if main.isdigit() else 0
    workers = [int(p) for p in os.listdir("/proc") if p.isdigit() and main and parent(int(p)) == main]
    newest = max((t for t in map(started, workers) if t is not None), default=None)
    switched = os.lstat(current).st_mtime
    if newest is None or newest <= switched:
        release = os.path.basename(os.path.realpath(current))
        print(f"no worker of {unit} has started since current became {release} (a reload forks them)")
        sys.exit(1)
