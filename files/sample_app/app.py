"""A small Flask app to deploy with flask-nginx: a page with a static file, a JSON
route, a health route for the role's check, and a secret from the environment.

The role runs it with Gunicorn (`app:app`), behind Nginx, with the settings of
flask_nginx_app_env in its environment.
"""
import os
import platform

from flask import Flask, jsonify, render_template, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
app.config.update(
    APP_NAME=os.environ.get("APP_NAME", "sample_app"),
    APP_VERSION=os.environ.get("APP_VERSION", "1"),
    # Signs the session cookie. Set SECRET_KEY in flask_nginx_app_env (from a vault):
    # without it every restart makes a new one and logs everyone out.
    SECRET_KEY=os.environ.get("SECRET_KEY") or os.urandom(32),
    SESSION_COOKIE_SECURE=os.environ.get("SESSION_COOKIE_SECURE", "") == "1",
    SESSION_COOKIE_SAMESITE="Lax",
)
# Nginx sets X-Forwarded-For/-Proto/-Host to what it saw: trust exactly that one hop,
# so that the app sees the real client address and scheme.
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)


def info():
    return {
        "app": app.config["APP_NAME"],
        "version": app.config["APP_VERSION"],
        "host": platform.node(),
        "client_ip": request.remote_addr,
        "scheme": request.scheme,
        "server_name": request.host,
    }


@app.get("/")
def index():
    # A counter in the signed session cookie: SECRET_KEY at work.
    session["visits"] = session.get("visits", 0) + 1
    return render_template("index.html", info=info(), visits=session["visits"])


@app.get("/api/info")
def api_info():
    return jsonify(info())


@app.get("/healthz")
def healthz():
    # What the role's health check asks for at the end of every run.
    return jsonify(status="ok", version=app.config["APP_VERSION"])


@app.errorhandler(404)
def not_found(_error):
    return jsonify(error="not found", path=request.path), 404
