"""The load generator of the Molecule tests: CLIENTS threads requesting PATH
(default /api/info, whose JSON names the release's version and the host that
answered) for a bounded time or until stopped, counting what succeeded.

A request succeeds when it answers 200 with a JSON object; anything else (an
other status, an error, a timeout of 10 s, a body that is not JSON) counts as
failed. Two ways to connect:

  keepalive=False   a new connection per request, and any error counts as failed
                    (inside a host, against 127.0.0.1, where ports are plenty)
  keepalive=True    each client keeps its connection, as browsers do. Like any
                    HTTP client, a GET that finds its idle kept-alive connection
                    closed by the server is sent again on a new connection (RFC
                    9112, 9.3.1); a request that fails on a new connection counts
                    as failed. (From this machine through docker's port proxy a
                    new connection per request would exhaust its ports.)

Standard library only, so that it also runs inside a host:
  python3 http_load.py --seconds 6 --port 80 --server-name shop.test
prints the result as JSON (see Load.result)."""
import argparse
import http.client
import json
import threading
import time


class Load:
    """with Load(port, ...) as load: ...; then load.ok, load.failed, load.reconnects,
    load.versions, load.hosts (sets) and load.errors (what the failed requests got).
    pause: seconds each client waits between requests (0: as fast as it can), so a
    test can keep traffic flowing without taking the CPU a converge needs."""

    def __init__(self, port, address="127.0.0.1", server_name="shop.test", path="/api/info",
                 clients=8, seconds=300, keepalive=False, pause=0.0):
        self.address, self.port, self.server_name, self.path = address, port, server_name, path
        self.seconds, self.keepalive, self.pause = seconds, keepalive, pause
        self.ok = self.failed = self.reconnects = 0
        self.versions, self.hosts, self.errors = set(), set(), []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]
        self.deadline = None

    def run(self):
        conn = None
        while not self.stop.is_set() and time.time() < self.deadline:
            fresh = conn is None
            if fresh:
                conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
            try:
                conn.request("GET", self.path, headers={"Host": self.server_name})
                response = conn.getresponse()
                body = response.read()
                if response.will_close or not self.keepalive:
                    conn.close()
                    conn = None
                status = response.status
            except Exception as exc:  # pylint: disable=broad-except  (every error is a failed request)
                conn.close()
                conn = None
                if self.keepalive and not fresh:
                    with self.lock:
                        self.reconnects += 1
                    continue
                status, body = repr(exc), b""
            info = None
            if status == 200:
                try:
                    info = json.loads(body)
                except ValueError:
                    status = "200 without JSON"
            with self.lock:
                if isinstance(info, dict) and info:
                    self.ok += 1
                    self.versions.add(info.get("version"))
                    self.hosts.add(info.get("host"))
                else:
                    self.failed += 1
                    self.errors.append(status)
            if self.pause:
                self.stop.wait(self.pause)
        if conn:
            conn.close()

    def __enter__(self):
        self.deadline = time.time() + self.seconds
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def result(self):
        return {"ok": self.ok, "failed": self.failed, "reconnects": self.reconnects,
                "versions": sorted(map(str, self.versions)), "hosts": sorted(map(str, self.hosts)),
                "errors": [str(error) for error in self.errors[:20]]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--server-name", default="shop.test")
    parser.add_argument("--path", default="/api/info")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--keepalive", action="store_true")
    args = parser.parse_args()
    load = Load(args.port, args.address, args.server_name, args.path, args.clients, args.seconds, args.keepalive)
    with load:
        for thread in load.threads:
            thread.join()  # until the deadline
    print(json.dumps(load.result()))


if __name__ == "__main__":
    main()
