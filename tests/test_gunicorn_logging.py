"""The request id on the app's log lines (templates/gunicorn.conf.py.j2), in a real Python
process: the rendered settings file is run as Gunicorn runs it (with a stand-in for
gunicorn.glogging, the one Gunicorn module it imports), then its request hooks and Python's
logging are used as an app would use them."""
import json
import subprocess
import sys
import textwrap

import jinja2
import pytest
import yaml

from conftest import ROLE, SAMPLE_APP, plan_module, role_context, role_options, role_values

APP = textwrap.dedent(r"""
    import logging, runpy, sys, threading, types
    glogging = types.ModuleType("gunicorn.glogging")
    glogging.Logger = type("Logger", (), {})
    sys.modules.update({"gunicorn": types.ModuleType("gunicorn"), "gunicorn.glogging": glogging})
    conf = runpy.run_path(sys.argv[1])
    if sys.argv[2] == "reloaded":  # Gunicorn reads its settings again at every reload
        conf = runpy.run_path(sys.argv[1])
    if sys.argv[2] == "own-config":  # an app with a logging config of its own
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("own id=%(request_id)s %(message)s"))
        logging.getLogger().handlers[:] = [handler]
    Request = type("Request", (), {})
    log = logging.getLogger("app")

    def handle(headers, text):
        req = Request()
        req.headers = headers
        conf["pre_request"](None, req)
        log.warning(text)
        conf["post_request"](None, req, {}, None)

    log.warning("before any request")
    handle([("HOST", "x"), ("X-REQUEST-ID", "0123abcd")], "in a request")
    handle([("X-REQUEST-ID", "bad id; with spaces")], "with a malformed id")
    handle([], "without an id")
    thread = threading.Thread(target=handle, args=([("X-REQUEST-ID", "other-thread.1")], "in another thread"))
    thread.start(); thread.join()
    log.warning("after the requests")
""")


def render(tmp_path):
    """gunicorn.conf.py as the role renders it, from the plan of a single host (the plan plugin)."""
    values = role_values(flask_nginx_app_src=SAMPLE_APP, flask_nginx_app_name="shop")
    context = role_context(values)
    plan, refused = plan_module().make_plan(values, role_options(), context, "host")
    assert not refused, refused
    tables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")), undefined=jinja2.StrictUndefined)
    env.filters.update(to_json=json.dumps, comment=lambda text: f"# {text}", bool=bool)
    names = ("__flask_nginx_current", "__flask_nginx_unit", "__flask_nginx_socket",
             "__flask_nginx_runtime_dir")
    values = {**values, **{name: env.from_string(tables[name]).render({**values, **tables}) for name in names},
              **{name: tables[name] for name in ("__flask_nginx_request_id_pattern",)},
              "ansible_managed": "managed", "__flask_nginx_plan": plan}
    path = tmp_path / "gunicorn.conf.py"
    path.write_text(env.get_template("gunicorn.conf.py.j2").render(values))
    return path


@pytest.mark.parametrize("case", ["first-load", "reloaded"])
def test_app_log_lines_carry_the_id_of_their_request_and_no_other(tmp_path, case):
    result = subprocess.run([sys.executable, "-c", APP, str(render(tmp_path)), case],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "WARNING [app] before any request",
        "request_id=0123abcd WARNING [app] in a request",
        "WARNING [app] with a malformed id",
        "WARNING [app] without an id",
        "request_id=other-thread.1 WARNING [app] in another thread",
        "WARNING [app] after the requests",
    ]


def test_an_app_with_its_own_logging_config_can_use_request_id_in_its_format(tmp_path):
    result = subprocess.run([sys.executable, "-c", APP, str(render(tmp_path)), "own-config"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "own id= before any request", "own id=0123abcd in a request", "own id= with a malformed id",
        "own id= without an id", "own id=other-thread.1 in another thread", "own id= after the requests"]
