#!/usr/bin/python3
"""Pre-flight check of http-01 before an ACME order (flask_nginx_acme_preflight).

Usage: acme_preflight.py TOKEN_FILE_NAME TOKEN NAME...

For every NAME, resolve it with the system resolver (as the world does: no
/etc/hosts tricks of the role) and fetch
http://NAME/.well-known/acme-challenge/TOKEN_FILE_NAME on port 80, following
redirects as an ACME CA does. Prints one JSON object: {"failed": [...],
"checked": [...]}, each entry {name, address, answer}. Stdlib only.
"""
import http.client
import json
import socket
import ssl
import sys
import urllib.parse

TIMEOUT = 10
MAX_REDIRECTS = 5


def fetch(url):
    """GET URL with redirects; returns (address of the first hop, description or None when ok, body)."""
    first_address = ""
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            return first_address or "-", f"{host} does not resolve ({error.strerror})", ""
        address = infos[0][4][0]
        first_address = first_address or address
        if parts.scheme == "https":
            # ACME CAs accept any certificate on a redirect to HTTPS.
            connection = http.client.HTTPSConnection(address, port, timeout=TIMEOUT,
                                                     context=ssl._create_unverified_context())  # noqa: S323
        else:
            connection = http.client.HTTPConnection(address, port, timeout=TIMEOUT)
        try:
            connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                               headers={"Host": parts.netloc, "User-Agent": "flask-nginx-acme-preflight"})
            response = connection.getresponse()
            body = response.read(512).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            text = getattr(error, "strerror", None) or str(error) or type(error).__name__
            return first_address, f"no HTTP answer from {address}:{port} ({text})", ""
        finally:
            connection.close()
        if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            url = urllib.parse.urljoin(url, response.getheader("Location"))
            continue
        return first_address, f"HTTP {response.status} from {address}:{port}", body
    return first_address, f"more than {MAX_REDIRECTS} redirects", ""


def main():
    file_name, token, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    checked, failed = [], []
    for name in names:
        address, answer, body = fetch(f"http://{name}/.well-known/acme-challenge/{file_name}")
        entry = {"name": name, "address": address, "answer": answer}
        if not (answer.startswith("HTTP 200 ") and body.strip() == token):
            if answer.startswith("HTTP "):
                entry["answer"] = f"{answer}, not the token" + (f": {body.strip()[:80]!r}" if body.strip() else "")
            entry["line"] = f"{name} resolved to {address}: {entry['answer']}"
            failed.append(entry)
        checked.append(entry)
    print(json.dumps({"checked": checked, "failed": failed}))


if __name__ == "__main__":
    main()
