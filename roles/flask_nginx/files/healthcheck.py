# flask-nginx health check: GET a URL the way a client of the named site would
# (Host header and TLS SNI carry the site's name). Exit 0 when the status is the
# expected one (200; 503 while the site is in maintenance) and, when the app runs
# here (CURRENT and UNIT given), Gunicorn's newest workers serve the release
# `current` points at: a graceful reload returns before its new workers are
# forked, and the old ones answer until then. Which release a worker serves is
# read from the kernel (/proc/PID/cwd: the workers work in RELEASES/ID/app), never
# from a file the app could write.
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
from urllib.parse import urlsplit


def started(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def serving(unit):
    """The release id Gunicorn's newest worker works in, or "(none yet)"."""
    shown = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", unit],
                           capture_output=True, text=True, check=False).stdout.strip()
    pid = int(shown) if shown.isdigit() else 0
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            workers = [int(child) for child in handle.read().split()]
        found = re.search(r"/releases/([0-9a-f]{12})/app\Z", os.readlink(f"/proc/{max(workers, key=started)}/cwd"))
    except (OSError, ValueError):
        return "(none yet)"
    return found.group(1) if found else "(none yet)"


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
    release = os.path.basename(os.path.realpath(current))
    workers_release = serving(unit)
    if workers_release != release:
        print(f"Gunicorn's newest workers serve release {workers_release}; current is {release}")
        sys.exit(1)
