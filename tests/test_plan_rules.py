"""The plan plugin's functions called directly (roles/flask_nginx/action_plugins/flask_nginx_plan.py):
typed variables coerced once by their spec, and the plan of made-up fleets, in milliseconds.
One end-to-end run proves that `-e flask_nginx_maintenance=false` reaches the templates as false."""
import os
import shutil

import pytest

from conftest import (SAMPLE_APP, dotted, flat_options, nested, plan, plan_module, role_context, role_options, role_values,
                      spec_groups)

PLAN = plan_module()
OPTIONS = role_options()
# Every value a user sets, a group's keys by their dotted name (flask_nginx_gunicorn.port).
FLAT = flat_options(OPTIONS)
GROUPS = spec_groups(OPTIONS)
BOOLS = sorted(name for name, option in FLAT.items() if option["type"] == "bool")
INTS = sorted(name for name, option in FLAT.items() if option["type"] == "int")


def make(host="web", groups=None, hostvars=None, stage="host", **overrides):
    values = role_values(**{"flask_nginx_app_src": SAMPLE_APP, **overrides})
    result, refused = PLAN.make_plan(values, OPTIONS, role_context(values, host, groups, hostvars), stage)
    assert not refused, refused
    return result


@pytest.mark.parametrize("name", BOOLS)
@pytest.mark.parametrize("text, value", [("false", False), ("true", True), ("no", False), ("yes", True)])
def test_a_boolean_given_as_a_string_is_read_as_a_boolean(name, text, value):
    """`-e NAME=false` gives the string "false", which Jinja reads as true: the plan carries False."""
    coerced = PLAN.coerce(nested(name, text), OPTIONS)[name]
    assert coerced is value


@pytest.mark.parametrize("name", INTS)
def test_an_integer_given_as_a_string_is_read_as_an_integer(name):
    text = str(FLAT[name]["default"] + 8)
    coerced = PLAN.coerce(nested(name, text), OPTIONS)[name]
    assert type(coerced) is int and coerced == int(text)


@pytest.mark.parametrize("name", BOOLS + INTS)
def test_every_typed_option_reaches_the_plan_coerced(name):
    """What templates and tasks read (__flask_nginx_plan.vars) holds the coerced value."""
    option = FLAT[name]
    text = "false" if option["type"] == "bool" else str(option["default"])
    found = dotted(make(stage="rules", **nested(name, text))["vars"], name)
    assert found == (False if option["type"] == "bool" else option["default"]) and type(found) is type(option["default"])


def test_list_elements_and_suboptions_are_coerced():
    coerced = PLAN.coerce({
        "flask_nginx_firewall": {"allow_tcp": ["8080", 9090]},
        "flask_nginx_workers": [{"name": "mail", "command": "x", "instances": "2"}],
        "flask_nginx_timers": [{"name": "report", "command": "x", "on_calendar": "daily", "all_hosts": "false"}],
        "flask_nginx_locations": [{"path": "/ws/", "websocket": "true", "buffering": "no"}],
    }, OPTIONS)
    assert coerced["flask_nginx_firewall.allow_tcp"] == [8080, 9090]
    assert coerced["flask_nginx_workers"][0]["instances"] == 2
    assert coerced["flask_nginx_timers"][0]["all_hosts"] is False
    assert (coerced["flask_nginx_locations"][0]["websocket"], coerced["flask_nginx_locations"][0]["buffering"]) == (True, False)


def test_a_string_is_not_split_into_a_list():
    """`flask_nginx_server_names: example.com` stays a string, so that its rule refuses it."""
    assert PLAN.coerce({"flask_nginx_server_names": "example.com"}, OPTIONS)["flask_nginx_server_names"] == "example.com"


def test_a_value_that_does_not_convert_is_left_for_the_spec_to_refuse():
    assert PLAN.coerce({"flask_nginx_gunicorn_workers": "many"}, OPTIONS)["flask_nginx_gunicorn_workers"] == "many"


def test_maintenance_given_as_false_is_healthy_with_200():
    assert make(flask_nginx_maintenance="false")["health"]["status"] == 200
    assert make(flask_nginx_maintenance="true")["health"]["status"] == 503


def test_single_host_runs_everything_on_a_unix_socket():
    single = make(flask_nginx_app_name="shop", flask_nginx_server_names=["Shop.Test"])
    assert single["host"]["runs_app"] and single["host"]["runs_lb"]
    assert single["listen"]["bind"] == ""
    assert single["listen"]["upstream_servers"] == [{"key": "web", "value": "unix:/run/gunicorn-shop.sock"}]
    assert single["listen"]["allowed_clients"] == []  # a unix socket: its mode decides
    assert single["names"]["server_names"] == ["shop.test"]
    assert single["health"] == {"url": "http://127.0.0.1:80/healthz", "status": 200, "name": "shop.test"}
    assert single["units"]["names"] == ["gunicorn-shop.socket", "gunicorn-shop.service", "nginx.service", "logrotate.timer"]


@pytest.mark.parametrize(("tls", "url"), [("none", "http://127.0.0.1:80/healthz"), ("selfsigned", "https://127.0.0.1:443/healthz")])
def test_the_health_check_asks_under_the_canonical_host_when_there_is_one(tls, url):
    """Every other name gets a 301 to the canonical host: the health check (tasks/health.yml,
    status.yml) must ask under that name, or it reads the redirect and fails."""
    found = make(flask_nginx_server_names=["shop.test", "WWW.shop.test"], flask_nginx_canonical_host="www.SHOP.test",
                 flask_nginx_tls_mode=tls)
    assert found["health"] == {"url": url, "status": 200, "name": "www.shop.test"}
    assert make(flask_nginx_server_names=["shop.test", "www.shop.test"], flask_nginx_tls_mode=tls)["health"]["name"] == "shop.test"


FLEET = {"flask_lb": ["lb1"], "flask_app": ["app1", "app2"]}
FLEET_VARS = {
    "lb1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.2"}, "all_ipv4_addresses": ["10.0.0.2", "172.16.0.2"]}},
    "app1": {"flask_nginx_app_address": "10.0.0.11"},
    "app2": {"flask_nginx_app_address": "10.0.0.12", "flask_nginx_gunicorn": {"port": "8001"}},
}


@pytest.mark.parametrize("host", ["app1", "app2"])
def test_app_hosts_listen_on_their_private_address_and_trust_every_address_of_the_load_balancer(host):
    app = make(host, FLEET, FLEET_VARS, **{k: v for k, v in FLEET_VARS[host].items()})
    assert app["listen"]["bind"] == {"app1": "10.0.0.11:8000", "app2": "10.0.0.12:8001"}[host]
    assert app["listen"]["trusted_lbs"] == ["127.0.0.1", "10.0.0.2", "172.16.0.2"]
    # Who may connect at all (the socket's IPAddressAllow=): the load balancer, this host, loopback.
    own = app["listen"]["bind"].split(":")[0]
    assert app["listen"]["allowed_clients"] == ["localhost", own, "10.0.0.2", "172.16.0.2"]
    assert app["host"]["peers"] == ["lb1"] and not app["host"]["runs_lb"]
    assert app["health"]["url"] == f"http://{app['listen']['bind']}/healthz"


def test_load_balancer_sends_to_every_app_host_with_the_app_hosts_own_port():
    lb = make("lb1", FLEET, FLEET_VARS)
    assert lb["listen"]["upstream_servers"] == [
        {"key": "app1", "value": "10.0.0.11:8000 max_fails=2 fail_timeout=10s"},
        {"key": "app2", "value": "10.0.0.12:8001 max_fails=2 fail_timeout=10s"},
    ]
    assert lb["host"]["release_marker"] == ".code-complete" and lb["units"]["files"] == []


def test_an_app_host_without_an_address_is_reached_at_the_address_the_role_read():
    hostvars = {**FLEET_VARS, "app1": {}}
    lb = make("lb1", FLEET, hostvars, stage="host")
    assert lb["listen"]["upstream_servers"][0]["value"].startswith("app1:8000")  # nothing known: its name
    values = role_values(flask_nginx_app_src=SAMPLE_APP)
    context = role_context(values, "lb1", FLEET, hostvars, ipv4={"app1": "10.9.9.9"})
    found, _ = PLAN.make_plan(values, OPTIONS, context)
    assert found["listen"]["upstream_servers"][0]["value"] == "10.9.9.9:8000 max_fails=2 fail_timeout=10s"


def test_gunicorn_on_a_public_address_is_refused_with_the_way_out():
    values = role_values(flask_nginx_app_src=SAMPLE_APP, flask_nginx_app_address="203.0.113.5")
    _, refused = PLAN.make_plan(values, OPTIONS, role_context(values, "app1", FLEET, FLEET_VARS))
    assert refused and refused[0].startswith("Gunicorn would listen on 203.0.113.5:8000")
    assert "flask_nginx_fleet.private_network: true" in refused[0]
    for setting in ({"flask_nginx_firewall": {"enabled": "true"}}, {"flask_nginx_fleet": {"private_network": True}}):
        assert make("app1", FLEET, FLEET_VARS, flask_nginx_app_address="203.0.113.5", **setting)["listen"]["bind"] == \
            "203.0.113.5:8000"


TWO_LBS = {"flask_lb": ["lb1", "lb2"], "flask_app": ["lb1", "app2"]}
TWO_LBS_VARS = {"lb1": {"flask_nginx_app_address": "10.0.0.11"}, "app2": {"flask_nginx_app_address": "10.0.0.12"},
                "lb2": {"ansible_host": "10.0.0.3"}}
ACME = {"flask_nginx_server_names": ["shop.test", "www.shop.test"], "flask_nginx_tls_mode": "acme",
        "flask_nginx_acme_email": "ops@shop.test", "flask_nginx_fleet": {"private_network": True}}


def test_one_load_balancer_asks_the_ca_and_the_other_copies_its_certificate():
    issuer = make("lb1", TWO_LBS, TWO_LBS_VARS, flask_nginx_app_address="10.0.0.11", **ACME)
    follower = make("lb2", TWO_LBS, {**TWO_LBS_VARS, "lb1": {**TWO_LBS_VARS["lb1"], "ansible_host": "10.0.0.2"}}, **ACME)
    assert issuer["tls"]["issues_here"] and issuer["tls"]["acme_needed"] and not issuer["tls"]["follower"]
    assert follower["tls"]["follower"] and not follower["tls"]["acme_needed"]
    assert issuer["tls"]["cert"] == "/etc/letsencrypt/live/flaskapp/fullchain.pem"
    assert follower["tls"]["cert"] == follower["tls"]["key"] == "/etc/flask-nginx/flaskapp/tls/certificate-and-key.pem"
    assert follower["listen"]["acme_issuer_address"] == "10.0.0.2:80"
    assert "certbot" in issuer["packages"]["wanted"] and "certbot" not in follower["packages"]["wanted"]
    # lb2 runs no app, so lb1 listens on TCP and both load balancers send to both app hosts.
    assert issuer["listen"]["bind"] == "10.0.0.11:8000"
    assert [s["key"] for s in follower["listen"]["upstream_servers"]] == ["lb1", "app2"]


def test_the_certificate_on_disk_decides_the_https_names_and_whether_to_order():
    probe = {"paths": {"cert": {"type": "file"}}}
    renewal = "server = https://acme-v02.api.letsencrypt.org/directory\nauthenticator = webroot\n"
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **ACME)
    context = role_context(values, probe=probe, cert_names=["DNS:Shop.Test"], renewal_conf=renewal)
    partial, _ = PLAN.make_plan(values, OPTIONS, context)
    assert partial["tls"]["https_names_now"] == ["shop.test"] and partial["tls"]["acme_needed"]
    context["cert_names"] = ["DNS:shop.test", "DNS:www.shop.test"]
    complete, _ = PLAN.make_plan(values, OPTIONS, context)
    assert complete["tls"]["https_names_now"] == ["shop.test", "www.shop.test"] and not complete["tls"]["acme_needed"]
    context["renewal_conf"] = renewal.replace("acme-v02", "acme-staging-v02")
    assert PLAN.make_plan(values, OPTIONS, context)[0]["tls"]["acme_needed"]  # another directory: order again


def test_a_job_runs_on_the_first_app_host_only_unless_it_says_all_hosts():
    timers = [{"name": "report", "command": "x", "on_calendar": "daily"},
              {"name": "clean", "command": "y", "on_calendar": "hourly", "all_hosts": "true"}]
    workers = [{"name": "mail", "command": "z", "instances": "2"}]
    first = make("app1", FLEET, FLEET_VARS, stage="fleet", flask_nginx_timers=timers, flask_nginx_workers=workers)
    second = make("app2", FLEET, FLEET_VARS, stage="fleet", flask_nginx_timers=timers, flask_nginx_workers=workers)
    assert [f["unit"] for f in first["units"]["files"] if f["kind"] == "timer"] == ["flaskapp-job-report.timer",
                                                                                     "flaskapp-job-clean.timer"]
    assert [f["unit"] for f in second["units"]["files"] if f["kind"] == "timer"] == ["flaskapp-job-clean.timer"]
    assert first["units"]["worker_instances"] == ["flaskapp-worker-mail@1.service", "flaskapp-worker-mail@2.service"]


def test_maintenance_off_given_with_e_as_a_string_is_rendered_off(tmp_path):
    """End to end: `-e flask_nginx_maintenance=false` (a string) through the role's validate.yml
    and plan.yml and the Nginx templates (tests/render.yml): no 503, and the health check wants 200."""
    result, plans = plan(tmp_path, {"all": {"hosts": {"web": {"flask_nginx_app_src": SAMPLE_APP}}}},
                         args=("-e", "flask_nginx_maintenance=false", "-e", "flask_nginx_http_port=8080"))
    assert result.returncode == 0, result.stdout[-4000:]
    web = plans["web"]
    assert web["plan"]["vars"]["flask_nginx_maintenance"] is False and web["health_status"] == 200
    assert web["health_url"] == "http://127.0.0.1:8080/healthz"
    site = (tmp_path / "rendered" / "web" / "flaskapp.conf").read_text()
    assert "listen 8080;" in site
    common = site + "".join(p.read_text() for p in (tmp_path / "rendered" / "web").iterdir())
    assert "return 503" not in common and "Retry-After" not in common


def site_lines(app, https=443, protocols="TLSv1.2 TLSv1.3", ipv6=False, http=80):
    """The lines the probe reads of another app's enabled site (templates/site.conf.j2's output)."""
    return ([f"# Site {app}: Nginx in front of Gunicorn.", f"    listen {https} ssl;"]
            + ([f"    listen [::]:{https} ssl;"] if ipv6 else []) + [f"    ssl_protocols {protocols};", f"    listen {http};"]
            + ([f"    listen [::]:{http};"] if ipv6 else []))


def sharing(sites, **overrides):
    """The host-stage refusals of app flaskapp on a host where the probe found SITES (app -> lines)."""
    values = role_values(flask_nginx_app_src=SAMPLE_APP, flask_nginx_tls_mode="selfsigned", **overrides)
    probe = {"lines": {"sites": {f"/etc/nginx/sites-enabled/{app}.conf": lines for app, lines in sites.items()}}}
    return PLAN.make_plan(values, OPTIONS, role_context(values, probe=probe))[1]


def test_two_apps_of_a_host_with_different_tls_profiles_on_one_port_are_refused_naming_both():
    """The apps of a host share the HTTPS default server of a port, where Nginx negotiates the
    protocol: one app's profile would not hold, and each run would rewrite the shared file."""
    found = " | ".join(sharing({"shop": site_lines("shop", protocols="TLSv1.3")}))
    assert 'flask_nginx_tls_profile = "intermediate" is refused on web: the app shop' in found, found
    assert '"modern" profile' in found and "/etc/nginx/sites-enabled/shop.conf" in found and "flaskapp and shop" in found, found


def test_two_apps_of_a_host_that_differ_in_ipv6_are_refused_naming_both():
    found = " | ".join(sharing({"shop": site_lines("shop", ipv6=True)}, flask_nginx_ipv6="never"))
    assert 'flask_nginx_ipv6 = "never" is refused on web: the app shop' in found and "flaskapp and shop" in found, found
    found = " | ".join(sharing({"shop": site_lines("shop", ipv6=False)}, flask_nginx_ipv6="always"))
    assert 'flask_nginx_ipv6 = "always" is refused on web: the app shop' in found, found


@pytest.mark.parametrize(("sites", "overrides"), [
    ({"shop": site_lines("shop")}, {}),                                              # same profile and IPv6
    ({"shop": site_lines("shop", https=8443, protocols="TLSv1.3")}, {}),             # another HTTPS port
    ({"flaskapp": site_lines("flaskapp", protocols="TLSv1.3")}, {}),                 # this app's own earlier site
    ({"shop": site_lines("shop", ipv6=True)}, {"flask_nginx_ipv6": "never", "flask_nginx_default_server": False}),
    ({"shop": ["# Site shop: Nginx in front of Gunicorn.", "    listen 80;"]}, {}),    # shop has no TLS
], ids=["same", "other-port", "own-site", "no-default-server", "other-without-tls"])
def test_apps_that_agree_on_their_shared_ports_are_accepted(sites, overrides):
    assert sharing(sites, **overrides) == []


def refusals(**overrides):
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **overrides)
    return PLAN.make_plan(values, OPTIONS, role_context(values), "rules")[1]


@pytest.mark.parametrize("timeout, ok", [(60, True), ("1800", True), (59, False), (0, False)])
def test_the_lock_timeout_is_a_minute_or_more(timeout, ok):
    refused = refusals(flask_nginx_lock_timeout=timeout)
    assert (refused == []) is ok, refused
    if not ok:
        assert refused[0].startswith(f"flask_nginx_lock_timeout = {timeout} is refused: seconds, at least 60")


def test_breaking_the_lock_given_with_e_as_a_string_is_true_in_the_plan():
    assert make(stage="rules", flask_nginx_lock_break="true")["vars"]["flask_nginx_lock_break"] is True
    assert make(stage="rules")["vars"]["flask_nginx_lock_break"] is False


@pytest.mark.parametrize("commands", ["curl -X PURGE http://cache/", ["purge", "  "], [["purge"]]])
def test_post_switch_commands_are_a_list_of_command_lines(commands):
    refused = refusals(flask_nginx_post_switch_commands=commands)
    assert refused and refused[0].startswith("flask_nginx_post_switch_commands = ") and "a list of command lines" in refused[0]


def test_post_switch_commands_pass_as_a_list():
    assert refusals(flask_nginx_post_switch_commands=["flask --app app purge-cache", "echo done"]) == []


def test_the_run_is_named_by_the_controllers_user_and_host_and_the_playbook_files(monkeypatch):
    import getpass
    import socket
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    monkeypatch.setattr(socket, "gethostname", lambda: "ctl.example")
    run = PLAN.controller_run("Deploy the app hosts in batches", {"args": ("playbooks/deploy.yml",)})
    assert run == {"user": "alice", "host": "ctl.example", "playbook": "deploy.yml"}
    # No playbook file (the role run some other way): the play's name.
    assert PLAN.controller_run("Deploy the shop", {"args": ()})["playbook"] == "Deploy the shop"


# The environments of both installers without an index of their own (the defaults).
PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
UV_ENV = {"UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy", "UV_NO_CONFIG": "1"}
CA_FILE = "/etc/flask-nginx/flaskapp/pip-ca.pem"
INDEX = "https://pypi.internal/simple"
EXTRA = ["https://a.internal/simple", "https://b.internal/simple"]
PROXY = "http://proxy.internal:3128"


@pytest.mark.parametrize(("index", "pip", "uv"), [
    ({}, {}, {"UV_NATIVE_TLS": "1"}),
    ({"url": INDEX}, {"PIP_INDEX_URL": INDEX}, {"UV_DEFAULT_INDEX": INDEX, "UV_NATIVE_TLS": "1"}),
    ({"extra_urls": EXTRA}, {"PIP_EXTRA_INDEX_URL": " ".join(EXTRA)}, {"UV_INDEX": " ".join(EXTRA), "UV_NATIVE_TLS": "1"}),
    ({"ca_bundle": "/etc/ssl/corp-ca.pem"}, {"PIP_CERT": CA_FILE}, {"SSL_CERT_FILE": CA_FILE}),
    ({"proxy": PROXY}, {"PIP_PROXY": PROXY}, {"HTTPS_PROXY": PROXY, "HTTP_PROXY": PROXY, "UV_NATIVE_TLS": "1"}),
    ({"url": INDEX, "extra_urls": EXTRA[:1], "ca_bundle": "/etc/ssl/corp-ca.pem", "proxy": PROXY},
     {"PIP_INDEX_URL": INDEX, "PIP_EXTRA_INDEX_URL": EXTRA[0], "PIP_CERT": CA_FILE, "PIP_PROXY": PROXY},
     {"UV_DEFAULT_INDEX": INDEX, "UV_INDEX": EXTRA[0], "SSL_CERT_FILE": CA_FILE, "HTTPS_PROXY": PROXY, "HTTP_PROXY": PROXY}),
], ids=["pypi", "index", "extra-indexes", "ca-bundle", "proxy", "all"])
def test_the_package_index_sets_the_environment_of_pip_and_uv(index, pip, uv):
    """flask_nginx_package_index reaches both installers (the plan's python.pip_env and uv_env):
    the CA bundle (copied to the host) is trusted by both; without one uv trusts the system's store."""
    found = make(flask_nginx_package_index=index)["python"]
    assert found["pip_env"] == {**PIP_ENV, **pip}
    assert found["uv_env"] == {**UV_ENV, **uv}
    assert found["ca_file"] == (CA_FILE if index.get("ca_bundle") else "")


PACKAGING = [["uv_lock", "uv.lock"], ["requirements", "requirements.txt"], ["project", "pyproject.toml"]]


@pytest.mark.parametrize(("files", "overrides", "chosen"), [
    ({"uv.lock", "pyproject.toml", "requirements.txt"}, {}, "uv_lock"),
    ({"uv.lock", "requirements.txt"}, {}, "requirements"),  # a lock without its project is not one
    ({"requirements.txt", "pyproject.toml"}, {}, "requirements"),
    ({"pyproject.toml"}, {}, "project"),
    ({"requirements.txt", "pyproject.toml"}, {"flask_nginx_app_requirements_file": ""}, "project"),
    ({"deps/prod.txt", "pyproject.toml"}, {"flask_nginx_app_requirements_file": "deps/prod.txt"}, "requirements"),
    (set(), {}, "none"),
    ({"uv.lock", "pyproject.toml"}, {"flask_nginx_app_install": "project"}, "project"),
    ({"uv.lock", "pyproject.toml"}, {"flask_nginx_app_install": "none"}, "none"),
], ids=["lock-first", "lock-alone", "requirements-before-project", "project", "no-requirements-file",
        "other-requirements-file", "nothing", "project-chosen", "none-chosen"])
def test_auto_installs_the_first_way_the_app_is_packaged(tmp_path, files, overrides, chosen):
    """flask_nginx_app_install auto: uv.lock (with pyproject.toml), then the requirements file,
    then pyproject.toml, else nothing; the plan shows the choice, and uv comes with a lock
    whatever the installer."""
    shutil.copy(os.path.join(SAMPLE_APP, "app.py"), tmp_path)
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = make(flask_nginx_app_src=str(tmp_path), flask_nginx_python_installer="pip", **overrides)["python"]
    assert found["app_install"] == chosen
    assert found["install_uv"] is (chosen == "uv_lock")


def test_a_git_app_chooses_after_its_checkout_in_the_same_order():
    found = make(flask_nginx_app_src="", flask_nginx_app_git_repo="https://git.example/shop.git")["python"]
    assert found["app_install"] == "auto" and found["app_packaging"] == PACKAGING


@pytest.mark.parametrize(("files", "choice"), [
    ({"pyproject.toml"}, "uv_lock"), ({"uv.lock"}, "uv_lock"), ({"uv.lock", "pyproject.toml"}, "requirements"),
    (set(), "project")])
def test_a_way_of_installing_the_local_app_lacks_the_files_for_is_refused(tmp_path, files, choice):
    shutil.copy(os.path.join(SAMPLE_APP, "app.py"), tmp_path)
    for name in files:
        (tmp_path / name).write_text("")
    values = role_values(flask_nginx_app_src=str(tmp_path), flask_nginx_app_install=choice)
    _, refused = PLAN.make_plan(values, OPTIONS, role_context(values), "rules")
    assert len(refused) == 1 and refused[0].startswith(f'flask_nginx_app_install = "{choice}"'), refused


def test_uv_and_gunicorn_are_installed_only_where_the_markers_differ():
    """The plan's python section: uv (the default installer) when its marker holds another
    version or none, Gunicorn's packages when theirs differ; nothing on an unchanged host,
    nothing of uv with pip, nothing at all on a load balancer that runs no app."""
    values = role_values(flask_nginx_app_src=SAMPLE_APP)
    uv = role_context(values)["__flask_nginx_uv_version"]
    packages = [f"gunicorn=={values['flask_nginx_gunicorn']['version']}"]

    def python(probe_files, host="web", groups=None, **overrides):
        found = dict(values, **overrides)
        context = role_context(found, host, groups, {}, probe={"files": probe_files})
        plan, refused = PLAN.make_plan(found, OPTIONS, context)
        assert not refused, refused
        return plan["python"]

    fresh = python({"uv_marker": None, "gunicorn_marker": None})
    assert fresh == {"installer": "uv", "gunicorn_packages": packages, "install_uv": True, "install_gunicorn": True,
                     "pip_env": PIP_ENV, "uv_env": {**UV_ENV, "UV_NATIVE_TLS": "1"}, "ca_file": "",
                     "app_install": "requirements", "app_packaging": PACKAGING, "build_from": "", "uv_args": [], "build_env": {}}
    same = python({"uv_marker": f"{uv}\n", "gunicorn_marker": " ".join(packages) + "\n"})
    assert not same["install_uv"] and not same["install_gunicorn"]
    assert python({"uv_marker": "0.1.0\n", "gunicorn_marker": " ".join(packages)})["install_uv"]
    assert python({"uv_marker": f"{uv}", "gunicorn_marker": "gunicorn==1.0"})["install_gunicorn"]
    with_pip = python({"uv_marker": None, "gunicorn_marker": None}, flask_nginx_python_installer="pip")
    assert with_pip["installer"] == "pip" and not with_pip["install_uv"] and with_pip["install_gunicorn"]
    lb = python({}, "lb1", FLEET, flask_nginx_app_address="")
    assert not lb["install_uv"] and not lb["install_gunicorn"]
    gevent = python({"gunicorn_marker": " ".join(packages)}, flask_nginx_gunicorn={"worker_class": "gevent"})
    assert gevent["install_gunicorn"] and gevent["gunicorn_packages"] == [
        f"gunicorn[gevent]=={values['flask_nginx_gunicorn']['version']}",
        f"gevent=={role_context(values)['__flask_nginx_gevent_version']}"]


def test_a_worker_gets_30_seconds_to_stop_unless_it_says_otherwise():
    """The stop timeout is a worker's own (stop_timeout, whole seconds; TimeoutStopSec=), 30 when it gives none."""
    workers = [{"name": "mail", "command": "z"}, {"name": "slow", "command": "y", "stop_timeout": "90"}]
    files = make(stage="fleet", flask_nginx_workers=workers)["units"]["files"]
    assert {f["name"]: f["stop_timeout"] for f in files if f["kind"] == "worker"} == {"mail": 30, "slow": 90}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_an_unknown_key_of_a_group_is_refused_naming_it_and_its_value(group):
    found = " | ".join(refusals(**{group: {"bogus": "x y"}}))
    assert f'{group}.bogus = "x y" is refused: not a key of {group} (its keys: {", ".join(GROUPS[group])})' in found, found


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a_group_given_as_a_string_is_refused(group):
    found = " | ".join(refusals(**{group: "on"}))
    assert f'{group} = "on" is refused: a dict of the keys to change ({", ".join(GROUPS[group])})' in found, found


# One key of each group and a value that is not its default.
PARTIAL = {
    "flask_nginx_timeouts": ("proxy_read", "120s"),
    "flask_nginx_upstream": ("max_fails", 5),
    "flask_nginx_gunicorn": ("timeout", 60),
    "flask_nginx_package_index": ("proxy", PROXY),
    "flask_nginx_fleet": ("drain_seconds", 10),
    "flask_nginx_rate_limit": ("rate", "20r/s"),
    "flask_nginx_logs": ("keep", 30),
    "flask_nginx_healthcheck": ("retries", 3),
    "flask_nginx_firewall": ("ssh_port", 2222),
    "flask_nginx_hsts": ("max_age", 600),
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a_partial_group_keeps_the_defaults_of_the_other_keys(group):
    """A play sets only the keys it changes (Ansible replaces the whole dict): the plan's vars,
    which templates and tasks read, hold the group complete."""
    key, value = PARTIAL[group]
    defaults = {name: spec.get("default") for name, spec in GROUPS[group].items()}
    assert value != defaults[key]
    assert make(stage="rules", **{group: {key: str(value)}})["vars"][group] == {**defaults, key: value}


@pytest.mark.parametrize("name", sorted(n for n, o in FLAT.items() if "." in n and o["type"] in ("bool", "int", "float")))
def test_a_group_key_of_the_wrong_type_is_refused_naming_it(name):
    kind = {"bool": "true or false", "int": "a whole number", "float": "a number"}[FLAT[name]["type"]]
    found = " | ".join(refusals(**nested(name, "soon")))
    assert f'{name} = "soon" is refused: {kind} (its type in meta/argument_specs.yml is {FLAT[name]["type"]})' in found, found


@pytest.mark.parametrize(("url", "userinfo", "bare", "origin"), [
    ("https://oauth2:glpat-SECRET@git.example/shop.git", "oauth2:glpat-SECRET", "https://git.example/shop.git",
     "https://git.example"),
    ("https://ghp_TOKEN@github.example:8443/o/shop.git", "ghp_TOKEN", "https://github.example:8443/o/shop.git",
     "https://github.example:8443"),
    # an @ in the password, unencoded
    ("HTTPS://u:p@ss@git.example/shop.git", "u:p@ss", "HTTPS://git.example/shop.git", "HTTPS://git.example"),
    ("https://tok@git.example/a@b.git", "tok", "https://git.example/a@b.git", "https://git.example"),
    ("https://git.example/shop.git", "", "https://git.example/shop.git", ""),
    # a user name over ssh is no secret
    ("ssh://deploy@git.example/srv/shop.git", "", "ssh://deploy@git.example/srv/shop.git", ""),
    ("deploy@git.example:shop.git", "", "deploy@git.example:shop.git", ""),
])
def test_the_credentials_of_a_git_url_are_known_so_they_never_show(url, userinfo, bare, origin):
    """git is given the URL without them (a process list shows its arguments), and its
    credential helper answers for their origin alone."""
    assert PLAN.git_userinfo(url) == userinfo
    assert PLAN.git_without_userinfo(url) == bare
    assert not userinfo or userinfo not in bare
    assert PLAN.git_origin(url) == origin
