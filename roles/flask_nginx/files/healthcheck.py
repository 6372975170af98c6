# flask-nginx health check: GET a path through the local Nginx, as a client of
# the named site would (Host header and TLS SNI). Exit 0 on HTTP 200.
import http.client
import socket
import ssl
import sys

scheme, port, name, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
conn = http.client.HTTPConnection(name, port, timeout=10)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
if scheme == "https":
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = context.wrap_socket(raw, server_hostname=name)
conn.sock = raw
conn.request("GET", path, headers={"Host": name, "User-Agent": "flask-nginx-healthcheck"})
response = conn.getresponse()
body = response.read(300).decode("utf-8", "replace")
print(f"{scheme}://{name}:{port}{path} -> {response.status} {body}")
sys.exit(0 if response.status == 200 else 1)
