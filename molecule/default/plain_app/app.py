"""A Flask app that knows nothing about flask-nginx: it configures no logging at all.
The default scenario deploys it as "plain" to show that its log lines reach the journal
with the id of the request they were written for, and only those."""
import logging

from flask import Flask, request, url_for

log = logging.getLogger("plain.work")
log.warning("plain app imported, outside any request")

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/log/<word>")
def log_word(word):
    app.logger.warning("app.logger says %s", word)
    log.warning("a module's logger says %s", word)
    return {"logged": word}


@app.get("/log/<word>/<int:count>")
def log_many(word, count):
    """COUNT lines at once, as a busy app writes them (the journal's rate limit)."""
    for number in range(min(count, 200000)):
        log.warning("%s %d", word, number)
    return {"logged": count}


@app.get("/ws/headers")
def upgrade_headers():
    """The hop-by-hop headers that reached the app (a WebSocket location in front)."""
    return {"upgrade": request.headers.get("Upgrade"), "connection": request.headers.get("Connection")}


@app.get("/where")
def where():
    """Where the app thinks it is: its root, its own path and the links it builds."""
    return {"script_root": request.script_root, "path": request.path, "self": url_for("where"),
            "static": url_for("static", filename="plain.css"), "forwarded_prefix": request.headers.get("X-Forwarded-Prefix")}
