"""flask-nginx sample app: a small but real Flask application.

HTTP (see README.md beside this file for details):
  GET  /              HTML page that loads static CSS and JS through url_for
  GET  /api/info      JSON: app name, version, release, host name, client IP and scheme as the app sees them
  GET  /healthz       liveness check used by the deployment and the load balancer
  GET  /api/cached    JSON: when and by which process it was made (the shop caches it in Nginx)
  GET  /api/notes     the notes; POST (text body, at most 1 KB): add one (shows where the app may write)
  GET  /api/schema    {"version": N, "latest": M}: the database schema version (0 before db-upgrade)
  GET  /api/greeting  needs migration 2: 500 until `flask --app app db-upgrade` has run
  POST /api/jobs      queue a job (body = payload): 201 {"id": ..., "status": "queued"}
  GET  /api/jobs      {"counts": {status: n}}
  GET  /api/jobs/ID   the job: status (queued, running, done), done_by_release, done_by_version
  GET  /api/ticks     {"ticks": lines in ticks.log, "last": last line or null}
  GET  /api/stream    Server-Sent Events: 5 events `data: {"n": i}`, 0.5 s apart, unbuffered
  WS   /ws/echo       WebSocket echo (flask-sock)
  POST /api/upload    a raw body of any size, read in chunks: {"bytes": n, "sha256": ...}

Commands (run from the app directory, as the app, with its environment):
  flask --app app db-upgrade   apply pending schema migrations (idempotent)
  flask --app app worker       background worker: runs queued jobs until SIGTERM
  flask --app app cleanup      scheduled job: one line to ticks.log, prunes old done jobs

Settings come from the environment (the role writes them to an environment file):
  APP_NAME, APP_VERSION (a VERSION file shipped with the code wins), SECRET_KEY,
  PROXY_COUNT (proxies in front of the app, default 1), LOG_LEVEL (default INFO),
  STATE_DIRECTORY (notes, app.db, ticks.log; systemd sets it; unset: a directory in the temp dir),
  APP_FAIL_MIGRATION=1 (db-upgrade fails on purpose, for tests),
  CLEANUP_DAYS (done jobs older than this are removed by cleanup, default 7).
"""
import datetime
import hashlib
import itertools
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import tempfile
import threading
import time

import click
from flask import Flask, Response, abort, g, has_request_context, jsonify, render_template, request, stream_with_context
from flask.logging import default_handler
from flask_sock import ConnectionClosed, Sock
from werkzeug.middleware.proxy_fix import ProxyFix

APP_DIR = os.path.dirname(os.path.abspath(__file__))
# The release this code belongs to: /opt/NAME/releases/<id>/app -> <id>. Taken once, at import,
# so a long-running worker keeps reporting the release it was started from.
RELEASE = os.path.basename(os.path.dirname(os.path.realpath(APP_DIR)))
NOTE_NAME = re.compile(r"^\d+\.txt$")


def _read(path):
    """The stripped text of the file at PATH, None without it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def release_version():
    """The version shipped with the code (a VERSION file beside this module), if any."""
    try:
        with open(os.path.join(APP_DIR, "VERSION"), encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


class RequestIdFilter(logging.Filter):
    """Puts the request id Nginx sends (X-Request-ID) on every log record, so that
    a line of the app's log (the journal) can be found in Nginx's access log."""

    def filter(self, record):
        record.request_id = request.headers.get("X-Request-ID", "-") if has_request_context() else "-"
        return True


REQUEST_ID_FILTER = RequestIdFilter()


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


# --- schema migrations --------------------------------------------------------------------------
# Each migration is (version, name, SQL statements). Only ever append; expand only (add tables,
# nullable columns, indexes), so the release still serving keeps working against the new schema.
MIGRATIONS = [
    (1, "create jobs", [
        """CREATE TABLE jobs (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               payload TEXT NOT NULL,
               status TEXT NOT NULL DEFAULT 'queued',
               created TEXT NOT NULL,
               done_by_release TEXT
           )""",
        "CREATE INDEX jobs_status ON jobs (status, id)",
    ]),
    (2, "create greetings, jobs.done_by_version and jobs.done_at", [
        "CREATE TABLE greetings (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        "INSERT INTO greetings (name) VALUES ('world')",
        "ALTER TABLE jobs ADD COLUMN done_by_version TEXT",
        "ALTER TABLE jobs ADD COLUMN done_at TEXT",
    ]),
]
LATEST = MIGRATIONS[-1][0]


def schema_version(db):
    try:
        row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:  # no such table: nothing applied yet
        return 0
    return row[0] or 0


def upgrade(db, echo):
    """Apply pending migrations, each in its own transaction with its record; safe to run twice
    or from two hosts' commands at once (BEGIN IMMEDIATE serialises them)."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
               "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)")
    for version, name, statements in MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) >= version:
                db.execute("ROLLBACK")
                continue
            for statement in statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                       (version, name, now()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        echo(f"applied migration {version}: {name}")
    return schema_version(db)


def create_app():
    app = Flask(__name__)
    app.config.update(
        APP_NAME=os.environ.get("APP_NAME", "test_app"),
        APP_VERSION=release_version() or os.environ.get("APP_VERSION", "1"),
        SECRET_KEY=os.environ.get("SECRET_KEY", os.urandom(32)),
    )
    # app.logger writes to stderr (Gunicorn's error log, i.e. the journal, under the role; the
    # unit's journal for workers and jobs). Without a level it would show warnings only.
    app.logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    # Every line carries the request id Nginx gave the request ("-" outside a request: workers,
    # jobs), so it can be found in Nginx's access log and in Gunicorn's access line.
    default_handler.addFilter(REQUEST_ID_FILTER)
    default_handler.setFormatter(logging.Formatter(
        "[%(asctime)s] %(levelname)s request_id=%(request_id)s in %(module)s: %(message)s"))
    # Nginx overwrites X-Forwarded-For/-Proto/-Host with what it saw, on a single
    # host and on a load balancer alike: trust exactly that one hop.
    hops = int(os.environ.get("PROXY_COUNT", "1"))
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # systemd may list several state directories, separated by colons: the first is ours.
    state_dir = (os.environ.get("STATE_DIRECTORY", "").split(":")[0]
                 or os.path.join(tempfile.gettempdir(), f"{app.config['APP_NAME']}-state"))
    db_path = os.path.join(state_dir, "app.db")
    ticks_path = os.path.join(state_dir, "ticks.log")
    version = app.config["APP_VERSION"]

    def connect():
        os.makedirs(state_dir, exist_ok=True)
        # Autocommit; transactions are explicit. Several processes share the file (Gunicorn
        # workers, background workers, jobs): wait for a lock rather than fail.
        db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        # WAL (readers do not block the writer) sticks to the file; switching to it ignores the
        # busy timeout when another process holds the new file, so retry for a while.
        for _ in range(300):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
            time.sleep(0.1)
        return db

    def get_db():
        if "db" not in g:
            g.db = connect()
        return g.db

    @app.teardown_appcontext
    def close_db(_exc):
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.errorhandler(sqlite3.OperationalError)
    def database_not_ready(exc):
        app.logger.error("database error: %s (schema at version %s of %s; did db-upgrade run?)",
                         exc, schema_version(get_db()), LATEST)
        return jsonify(error=f"database error: {exc}", hint="run: flask --app app db-upgrade"), 500

    # Releases made bad on purpose, for the deploy tests (molecule/cluster): a FAIL_EVERY file
    # (N) makes every Nth request of each process answer 500 while the health path stays
    # fine (only real traffic shows it: the canary); an UNHEALTHY file fails the health path.
    fail_every = int(_read(os.path.join(APP_DIR, "FAIL_EVERY")) or 0)
    unhealthy = _read(os.path.join(APP_DIR, "UNHEALTHY")) is not None
    served = itertools.count(1)

    @app.before_request
    def bad_release():
        if request.path == "/healthz":
            return (jsonify(status="unhealthy"), 500) if unhealthy else None
        if fail_every and next(served) % fail_every == 0:
            return jsonify(error=f"this release fails 1 request in {fail_every}"), 500
        return None

    # --- pages and basics -----------------------------------------------------------------------
    @app.get("/")
    def index():
        return render_template(
            "index.html",
            name=app.config["APP_NAME"],
            version=version,
            host=socket.gethostname(),
        )

    @app.get("/api/info")
    def info():
        return jsonify(
            app=app.config["APP_NAME"],
            version=version,
            release=RELEASE,
            host=socket.gethostname(),
            client_ip=request.remote_addr,
            scheme=request.scheme,
            server_name=request.host,
        )

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", version=version)

    # No cookie, no Cache-Control: a page Nginx's micro-cache may keep (flask_nginx_cache_paths);
    # every answer the app makes differs, so a cached one is told from a new one.
    @app.get("/api/cached")
    def cached():
        return jsonify(made=now(), pid=os.getpid(), release=RELEASE, version=version)

    # Notes are files named <ns>.txt directly in the state directory.
    @app.get("/api/notes")
    def list_notes():
        if not os.path.isdir(state_dir):
            return jsonify(notes=[])
        names = sorted(name for name in os.listdir(state_dir) if NOTE_NAME.match(name))
        notes = []
        for name in names[-50:]:
            with open(os.path.join(state_dir, name), encoding="utf-8") as handle:
                notes.append(handle.read())
        return jsonify(notes=notes)

    @app.post("/api/notes")
    def add_note():
        text = request.get_data(as_text=True)
        if not text or len(text) > 1024:
            abort(400)
        os.makedirs(state_dir, exist_ok=True)
        path = os.path.join(state_dir, f"{time.time_ns()}.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        app.logger.info("note %s saved", os.path.basename(path))
        return jsonify(saved=os.path.basename(path)), 201

    # --- database -------------------------------------------------------------------------------
    @app.get("/api/schema")
    def schema():
        return jsonify(version=schema_version(get_db()), latest=LATEST)

    @app.get("/api/greeting")
    def greeting():
        # Needs migration 2: without the greetings table this is a 500.
        row = get_db().execute("SELECT name FROM greetings ORDER BY id LIMIT 1").fetchone()
        return jsonify(greeting=f"Hello, {row['name'] if row else 'nobody'}!", version=version)

    # --- job queue ------------------------------------------------------------------------------
    @app.post("/api/jobs")
    def add_job():
        payload = request.get_data(as_text=True)
        if len(payload) > 65536:
            abort(413)
        cursor = get_db().execute("INSERT INTO jobs (payload, status, created) VALUES (?, 'queued', ?)",
                                  (payload, now()))
        app.logger.info("job %s queued", cursor.lastrowid)
        return jsonify(id=cursor.lastrowid, status="queued"), 201

    @app.get("/api/jobs")
    def job_counts():
        rows = get_db().execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        return jsonify(counts={row["status"]: row["n"] for row in rows})

    @app.get("/api/jobs/<int:job_id>")
    def get_job(job_id):
        row = get_db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            abort(404)
        return jsonify(dict(row))

    # --- scheduled job's output -----------------------------------------------------------------
    @app.get("/api/ticks")
    def ticks():
        try:
            with open(ticks_path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            lines = []
        return jsonify(ticks=len(lines), last=lines[-1] if lines else None)

    # --- streaming and WebSockets ---------------------------------------------------------------
    @app.get("/api/stream")
    def stream():
        def events():
            for n in range(5):
                if n:
                    time.sleep(0.5)
                yield f"data: {json.dumps({'n': n})}\n\n"

        return Response(stream_with_context(events()), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    sock = Sock(app)

    @sock.route("/ws/echo")
    def echo(ws):
        # Under Gunicorn's gthread worker each open socket holds one thread.
        try:
            while True:
                ws.send(ws.receive())
        except ConnectionClosed:
            pass

    # --- large uploads --------------------------------------------------------------------------
    @app.post("/api/upload")
    def upload():
        # Read the raw body in chunks (never all of it in memory, never as a form).
        size, digest = 0, hashlib.sha256()
        while chunk := request.stream.read(65536):
            size += len(chunk)
            digest.update(chunk)
        app.logger.info("upload of %d bytes", size)
        return jsonify(bytes=size, sha256=digest.hexdigest())

    # --- commands -------------------------------------------------------------------------------
    @app.cli.command("db-upgrade")
    def db_upgrade():
        """Apply pending schema migrations (idempotent)."""
        if os.environ.get("APP_FAIL_MIGRATION") == "1":
            # For tests: a failing migration, with a secret in its message (the role must redact it).
            raise click.ClickException(
                "migration failed on purpose (APP_FAIL_MIGRATION=1): simulated error "
                "while connecting with secret " + os.environ.get("SECRET_KEY", ""))
        db = connect()
        try:
            reached = upgrade(db, click.echo)
        finally:
            db.close()
        click.echo(f"schema at version {reached}")

    @app.cli.command("worker")
    def worker():
        """Run queued jobs until SIGTERM (the current job is finished first)."""
        stop = threading.Event()

        def on_signal(signum, _frame):
            app.logger.info("worker: %s, stopping after the current job", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        app.logger.info("worker started: pid %d, version %s, release %s, database %s",
                        os.getpid(), version, RELEASE, db_path)
        db = connect()
        waiting_for_schema = False
        try:
            while not stop.is_set():
                if schema_version(db) < LATEST:
                    if not waiting_for_schema:
                        app.logger.warning("worker: schema at version %s, need %s; waiting for db-upgrade",
                                           schema_version(db), LATEST)
                        waiting_for_schema = True
                    stop.wait(2)
                    continue
                waiting_for_schema = False
                job = claim(db)
                if job is None:
                    stop.wait(0.5)
                    continue
                run_job(job)
                db.execute("UPDATE jobs SET status = 'done', done_by_release = ?, done_by_version = ?, "
                           "done_at = ? WHERE id = ?", (RELEASE, version, now(), job["id"]))
                app.logger.info("worker: job %s done (version %s, release %s)", job["id"], version, RELEASE)
        finally:
            db.close()
        app.logger.info("worker stopped")

    def claim(db):
        """Take the oldest queued job; several workers may poll the same database."""
        db.execute("BEGIN IMMEDIATE")
        try:
            job = db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if job is not None:
                db.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (job["id"],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return job

    def run_job(job):
        """The work: a payload {"seconds": s} takes s seconds (at most 300), anything else none."""
        try:
            seconds = float(json.loads(job["payload"]).get("seconds", 0))
        except (ValueError, AttributeError, TypeError):
            seconds = 0
        time.sleep(min(max(seconds, 0), 300))  # a signal does not cut this short

    @app.cli.command("cleanup")
    def cleanup():
        """Scheduled job: append a line to ticks.log, remove done jobs older than CLEANUP_DAYS."""
        db = connect()
        try:
            removed = 0
            if schema_version(db) >= 2:
                cutoff = (datetime.datetime.now(datetime.timezone.utc)
                          - datetime.timedelta(days=float(os.environ.get("CLEANUP_DAYS", "7"))))
                removed = db.execute("DELETE FROM jobs WHERE status = 'done' AND done_at < ?",
                                     (cutoff.isoformat(timespec="milliseconds"),)).rowcount
        finally:
            db.close()
        line = f"{now()} tick version={version} release={RELEASE} removed_jobs={removed}"
        with open(ticks_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        click.echo(line)

    return app


app = create_app()

if __name__ == "__main__":  # development server, for comparison only
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
