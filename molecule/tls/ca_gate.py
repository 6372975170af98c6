"""A CA front for test_tls12.py, run on the Pebble host: the first N connections get
Pebble's TLS certificate and an HTTP 503 with an ACME serverInternal problem (a
transient CA error); every later connection is passed to Pebble unchanged.

Usage: python3 ca_gate.py LISTEN_PORT PEBBLE_PORT N
"""
import json
import socket
import ssl
import sys
import threading

LISTEN, TARGET, REJECT = (int(arg) for arg in sys.argv[1:4])
CONTEXT = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
CONTEXT.load_cert_chain("/etc/pebble/pebble.pem", "/etc/pebble/pebble.key")
BODY = json.dumps({"type": "urn:ietf:params:acme:error:serverInternal", "detail": "the CA is overloaded (test)",
                   "status": 503}).encode()
lock = threading.Lock()
count = 0


def pipe(source, sink):
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(conn):
    global count
    with lock:
        count += 1
        number = count
    if number <= REJECT:
        try:
            tls = CONTEXT.wrap_socket(conn, server_side=True)
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
                        b"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + str(len(BODY)).encode()
                        + b"\r\n\r\n" + BODY)
            tls.close()
        except OSError:
            conn.close()
        print(f"rejected connection {number}", flush=True)
        return
    upstream = socket.create_connection(("127.0.0.1", TARGET))
    threading.Thread(target=pipe, args=(conn, upstream), daemon=True).start()
    pipe(upstream, conn)


server = socket.create_server(("0.0.0.0", LISTEN), reuse_port=True)
print(f"listening on {LISTEN}", flush=True)
while True:
    connection, _ = server.accept()
    threading.Thread(target=handle, args=(connection,), daemon=True).start()
