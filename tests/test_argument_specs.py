"""The role's variables: defaults and argument spec agree, and bad values stop the play before any change."""
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import REPO, ROLE, ansible_playbook, load_yaml

DEFAULTS = load_yaml(ROLE / "defaults" / "main.yml")
OPTIONS = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def test_defaults_and_spec_declare_the_same_variables():
    assert not (only := sorted(set(DEFAULTS) - set(OPTIONS))), f"not in meta/argument_specs.yml: {only}"
    assert not (only := sorted(set(OPTIONS) - set(DEFAULTS))), f"not in defaults/main.yml: {only}"


@pytest.mark.parametrize("name", sorted(set(DEFAULTS) | set(OPTIONS)))
def test_variable_is_prefixed(name):
    assert name.startswith("flask_nginx_")


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_option_is_described(name):
    description = OPTIONS[name].get("description") or []
    lines = [description] if isinstance(description, str) else description
    assert lines and all(str(line).strip() for line in lines), f"{name} has no description"
    assert OPTIONS[name].get("type"), f"{name} has no type"


@pytest.mark.parametrize("name", sorted(set(DEFAULTS) & set(OPTIONS)))
def test_spec_default_matches_defaults(name):
    spec, default = OPTIONS[name].get("default"), DEFAULTS[name]
    assert (type(spec), spec) == (type(default), default), f"{name}: argument_specs {spec!r} != defaults {default!r}"


def test_role_validates_before_any_change():
    first = load_yaml(ROLE / "tasks" / "main.yml")[0]
    assert first.get("ansible.builtin.import_tasks") == "validate.yml"
    assert "always" in first.get("tags", [])


def assertion(expression):
    """How the default callback (YAML results, see conftest) shows the failed condition of an assert."""
    return f"assertion: {expression}"


def argspec(name):
    return f"argument '{name}' is of type"


def choices(name):
    return f"value of {name} must be one of"


SERVER_NAMES_RULE = assertion("flask_nginx_server_names | reject('match', __flask_nginx_server_name_re)")

# name -> (extra vars, text the output must show: the failed rule or argument).
BAD = {
    "workers-not-an-int": ({"flask_nginx_gunicorn_workers": "many"}, argspec("flask_nginx_gunicorn_workers")),
    # A plain string passes the spec (a list type splits it for the check) but not the rule.
    "server-names-string": ({"flask_nginx_server_names": "example.com"},
                            assertion("flask_nginx_server_names is not string")),
    "server-name-punctuation": ({"flask_nginx_server_names": ["bad name!"]}, SERVER_NAMES_RULE),
    "server-name-space": ({"flask_nginx_server_names": ["ex ample.com"]}, SERVER_NAMES_RULE),
    "server-names-empty": ({"flask_nginx_server_names": []}, assertion("flask_nginx_server_names | length > 0")),
    "app-name-capitals-space": ({"flask_nginx_app_name": "Bad Name"}, assertion("flask_nginx_app_name is match")),
    "worker-class-eventlet": ({"flask_nginx_gunicorn_worker_class": "eventlet"},
                              choices("flask_nginx_gunicorn_worker_class")),
    "ipv6-maybe": ({"flask_nginx_ipv6": "maybe"}, choices("flask_nginx_ipv6")),
    "gzip-level-10": ({"flask_nginx_gzip_comp_level": 10}, choices("flask_nginx_gzip_comp_level")),
    "wsgi-app-without-callable": ({"flask_nginx_wsgi_app": "app"}, assertion("flask_nginx_wsgi_app is match")),
    "app-env-bad-key": ({"flask_nginx_app_env": {"BAD-KEY": "x"}}, assertion("flask_nginx_app_env.keys()")),
    "app-root-trailing-slash": ({"flask_nginx_app_root": "/opt/app/"}, assertion("flask_nginx_app_root is match")),
    "static-url-relative": ({"flask_nginx_static_url": "static/"}, assertion("flask_nginx_static_url is match")),
    "gunicorn-bind-without-port": ({"flask_nginx_gunicorn_bind": "10.0.0.5"},
                                   assertion("flask_nginx_gunicorn_bind == ''")),
    "keepalive-not-above-upstream": ({"flask_nginx_gunicorn_keepalive": 60},
                                     assertion("flask_nginx_gunicorn_keepalive | int >")),
    "app-src-missing": ({"flask_nginx_app_src": "/nonexistent"},
                        "flask_nginx_app_src=/nonexistent must be a directory on the controller"),
    # Without its own rule a bare word would become `server_name l o c a l h o s t;`.
    "server-names-bare-word": ({"flask_nginx_server_names": "localhost"},
                               assertion("flask_nginx_server_names is not string")),
}
GOOD = {
    "defaults": {},
    "valid-non-defaults": {
        "flask_nginx_app_name": "my-app",
        "flask_nginx_server_names": ["example.com", "*.example.org", "127.0.0.1", "localhost"],
        "flask_nginx_wsgi_app": "app:create_app()",
        "flask_nginx_app_src": str(REPO / "files" / "sample_app"),
        "flask_nginx_app_env": {"SECRET_KEY": "s3cret", "_X": "1"},
        "flask_nginx_gunicorn_bind": "10.0.0.5:8000",
        "flask_nginx_gunicorn_worker_class": "sync",
        "flask_nginx_ipv6": "never",
        "flask_nginx_gunicorn_keepalive": 90,
    },
    # `-e flask_nginx_gunicorn_keepalive=90` gives a string; the spec accepts it as an int
    # and the role must cast it where it compares.
    "int-given-as-string": {"flask_nginx_gunicorn_keepalive": "90"},
}
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run tests/validate.yml once per case, side by side; return name -> (rc, output)."""
    inputs = {name: bad[0] for name, bad in BAD.items()} | GOOD

    def run(name):
        result = ansible_playbook("validate.yml", inputs[name], tmp_path_factory.mktemp(name))
        return name, (result.returncode, result.stdout + result.stderr)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(pool.map(run, inputs))


@pytest.mark.parametrize("case", list(GOOD))
def test_good_values_pass(runs, case):
    rc, output = runs[case]
    assert rc == 0, output


@pytest.mark.parametrize("case", list(BAD))
def test_bad_value_is_rejected(runs, case):
    rc, output = runs[case]
    assert rc != 0, f"accepted:\n{output}"
    assert BAD[case][1] in output, f"rejected, but without {BAD[case][1]!r}:\n{output}"
    assert "changed=0" in output, output
