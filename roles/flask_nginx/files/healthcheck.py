# flask-nginx health check: GET a URL the way a client of the named site would
# (Host header and TLS SNI carry the site's name). Exit 0 when the status is the
# expected one (200; 503 while the site is in maintenance) and, when the app runs
# here (CURRENT and SERVED given), Gunicorn's workers serve the release `current`
# points at: a graceful reload returns before its new workers are forked, and the
# old ones answer until then.
import http.client
import os
import socket
import ssl
import sys
from urllib.parse import urlsplit

url, name = urlsplit(sys.argv[1]), sys.argv[2]
expected = int(sys.argv[3]) if len(sys.argv) > 3 else 200
current, served = (sys.argv[4:6] + ["", ""])[:2]
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
if current and served:
    release = os.path.basename(os.path.realpath(current))
    try:
        with open(served, encoding="utf-8") as handle:
            serving = handle.read().strip()
    except FileNotFoundError:
        serving = "(none yet)"
    if serving != release:
        print(f"Gunicorn's newest workers serve release {serving}; current is {release}")
        sys.exit(1)
