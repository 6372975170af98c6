"""flask-nginx sample app: a small but real Flask application.

Routes:
  /          HTML page that loads static CSS and JS through url_for
  /api/info  JSON: app name, version, host name, client IP and scheme as seen by the app
  /healthz   liveness check used by the deployment and the load balancer
  /api/notes GET: the notes; POST (text body, at most 1 KB): add one (shows where the app may write)

Settings come from the environment (the role writes them to an environment file):
  APP_NAME, APP_VERSION (a VERSION file shipped with the code wins), SECRET_KEY, PROXY_COUNT (proxies in front of the app, default 1),
  STATE_DIRECTORY (where /api/notes keeps its notes; systemd sets it).
"""
import logging
import os
import socket
import time

from flask import Flask, abort, has_request_context, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix


def release_version():
    """The version shipped with the code (a VERSION file beside this module), if any."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "VERSION"), encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


class RequestIdFilter(logging.Filter):
    """Puts the request id Nginx sends (X-Request-ID) on every log record, so that
    a line of the app's log (the journal) can be found in Nginx's access log."""

    def filter(self, record):
        record.request_id = request.headers.get("X-Request-ID", "-") if has_request_context() else "-"
        return True


def create_app():
    app = Flask(__name__)
    handler = logging.StreamHandler()  # stderr: Gunicorn's log, the journal
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s request_id=%(request_id)s %(message)s"))
    app.logger.addHandler(handler)
    app.logger.setLevel(logging.INFO)
    app.config.update(
        APP_NAME=os.environ.get("APP_NAME", "sample_app"),
        APP_VERSION=release_version() or os.environ.get("APP_VERSION", "1"),
        SECRET_KEY=os.environ.get("SECRET_KEY", os.urandom(32)),
    )
    # Nginx overwrites X-Forwarded-For/-Proto/-Host with what it saw, on a single
    # host and on a load balancer alike: trust exactly that one hop.
    hops = int(os.environ.get("PROXY_COUNT", "1"))
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @app.get("/")
    def index():
        return render_template(
            "index.html",
            name=app.config["APP_NAME"],
            version=app.config["APP_VERSION"],
            host=socket.gethostname(),
        )

    @app.get("/api/info")
    def info():
        return jsonify(
            app=app.config["APP_NAME"],
            version=app.config["APP_VERSION"],
            host=socket.gethostname(),
            client_ip=request.remote_addr,
            scheme=request.scheme,
            server_name=request.host,
        )

    notes_dir = os.environ.get("STATE_DIRECTORY", os.path.join(os.path.dirname(__file__), "state"))

    @app.get("/api/notes")
    def list_notes():
        if not os.path.isdir(notes_dir):
            return jsonify(notes=[])
        names = sorted(os.listdir(notes_dir))
        notes = []
        for name in names[-50:]:
            with open(os.path.join(notes_dir, name), encoding="utf-8") as handle:
                notes.append(handle.read())
        return jsonify(notes=notes)

    @app.post("/api/notes")
    def add_note():
        text = request.get_data(as_text=True)
        if not text or len(text) > 1024:
            abort(400)
        os.makedirs(notes_dir, exist_ok=True)
        path = os.path.join(notes_dir, f"{time.time_ns()}.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        app.logger.info("note %s saved", os.path.basename(path))
        return jsonify(saved=os.path.basename(path)), 201

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", version=app.config["APP_VERSION"])

    return app


app = create_app()

if __name__ == "__main__":  # development server, for comparison only
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
