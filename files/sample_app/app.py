"""flask-nginx sample app: a small but real Flask application.

Routes:
  /          HTML page that loads static CSS and JS through url_for
  /api/info  JSON: app name, version, host name, client IP and scheme as seen by the app
  /healthz   liveness check used by the deployment and the load balancer

Settings come from the environment (the role writes them to an environment file):
  APP_NAME, APP_VERSION, SECRET_KEY, PROXY_COUNT (proxies in front of the app, default 1).
"""
import os
import socket

from flask import Flask, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix


def create_app():
    app = Flask(__name__)
    app.config.update(
        APP_NAME=os.environ.get("APP_NAME", "sample_app"),
        APP_VERSION=os.environ.get("APP_VERSION", "1"),
        SECRET_KEY=os.environ.get("SECRET_KEY", os.urandom(32)),
    )
    # Nginx sets X-Forwarded-For/-Proto/-Host; trust exactly as many hops as
    # there are proxies in front of us (1 on a single host, 2 behind a load balancer).
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

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", version=app.config["APP_VERSION"])

    return app


app = create_app()

if __name__ == "__main__":  # development server, for comparison only
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
