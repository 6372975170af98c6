#!/usr/bin/env python3
"""The part of Cloudflare's v4 API that certbot's dns-cloudflare plugin calls, for the tls
scenario, served over HTTPS as api.cloudflare.com (a network alias of the Pebble container,
with a certificate of the scenario's test CA). Records are real: each TXT record the plugin
creates or deletes goes into the scenario's bind9 zone cf.test by a TSIG-signed update
(nsupdate), where Pebble looks for it.

Every request must carry the API token of TOKEN_FILE as `Authorization: Bearer`; otherwise
the answer is Cloudflare's 9109 "Invalid access token". Each call is appended to CALLS_FILE
(method, path, whether it was authorized; never the token), for the tests to read.

Usage: cloudflare_api.py CERT KEY TOKEN_FILE TSIG_KEY_FILE CALLS_FILE
"""
import json
import ssl
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CERT, KEY, TOKEN_FILE, TSIG_KEY_FILE, CALLS_FILE = sys.argv[1:6]
ZONES = {"cf.test": "0f3b6f5d9c0a4b8e9a1c2d3e4f5a6b7c"}
PREFIX = "/client/v4"
records = {}  # id -> {"zone_id", "name", "content", "ttl"}
lock = threading.Lock()


def nsupdate(action, record):
    """Add or delete one TXT value in bind9's zone (127.0.0.1, signed with the TSIG key)."""
    zone = next(name for name, zid in ZONES.items() if zid == record["zone_id"])
    line = (f'update add {record["name"]}. {record["ttl"]} TXT "{record["content"]}"' if action == "add"
            else f'update delete {record["name"]}. TXT "{record["content"]}"')
    script = f"server 127.0.0.1\nzone {zone}\n{line}\nsend\n"
    subprocess.run(["nsupdate", "-k", TSIG_KEY_FILE], input=script, text=True, check=True, timeout=20)


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, result=None, errors=()):
        body = json.dumps({"success": not errors, "errors": list(errors), "messages": [], "result": result,
                           **({"result_info": {"page": 1, "per_page": 20, "count": len(result), "total_count": len(result)}}
                              if isinstance(result, list) else {})}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_call(self, method):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with open(TOKEN_FILE, encoding="utf-8") as f:
            token = f.read().strip()
        authorized = self.headers.get("Authorization", "") == f"Bearer {token}"
        with lock, open(CALLS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps({"method": method, "path": url.path, "query": query, "authorized": authorized}) + "\n")
        if not authorized:
            return self.answer(403, None, [{"code": 9109, "message": "Invalid access token"}])
        parts = url.path.removeprefix(PREFIX).strip("/").split("/")
        if parts == ["zones"] and method == "GET":
            name = query.get("name", "")
            return self.answer(200, [{"id": ZONES[name], "name": name}] if name in ZONES else [])
        if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records" and parts[1] in ZONES.values():
            zone_id = parts[1]
            if method == "POST" and len(parts) == 3:
                data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                record = {"zone_id": zone_id, "name": data["name"], "content": data["content"], "ttl": int(data.get("ttl", 120))}
                nsupdate("add", record)
                rid = uuid.uuid4().hex
                with lock:
                    records[rid] = record
                return self.answer(200, {"id": rid, "type": "TXT", **record})
            if method == "GET" and len(parts) == 3:
                with lock:
                    found = [{"id": rid, "type": "TXT", **r} for rid, r in records.items()
                             if r["zone_id"] == zone_id and r["name"] == query.get("name") and r["content"] == query.get("content")]
                return self.answer(200, found)
            if method == "DELETE" and len(parts) == 4:
                with lock:
                    record = records.pop(parts[3], None)
                if record is None:
                    return self.answer(404, None, [{"code": 81044, "message": "Record does not exist."}])
                nsupdate("delete", record)
                return self.answer(200, {"id": parts[3]})
        return self.answer(404, None, [{"code": 7003, "message": "Could not route to " + url.path}])

    def do_GET(self):  # noqa: N802 (http.server's names)
        self.handle_call("GET")

    def do_POST(self):  # noqa: N802
        self.handle_call("POST")

    def do_DELETE(self):  # noqa: N802
        self.handle_call("DELETE")


def main():
    server = ThreadingHTTPServer(("0.0.0.0", 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT, KEY)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
