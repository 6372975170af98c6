"""A Flask app packaged by a pyproject.toml (and a uv.lock) alone, with no requirements
file: the default scenario deploys it as "packaged" to show how flask_nginx_app_install
chooses, and that a lock gives exactly its versions."""
from importlib.metadata import distributions

from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/versions")
def versions():
    """Every distribution the release's virtualenv holds, by name: what the test compares
    with the lock."""
    return {dist.metadata["Name"].lower(): dist.version for dist in distributions()}
