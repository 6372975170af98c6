"""The role's real planning step (tasks/plan.yml) on made-up inventories: a single host,
one load balancer with three app hosts, a run limited to the load balancer, and two load
balancers with ACME. The hosts are this machine (connection local); the plan's answers are
read back as JSON. Four Ansible runs in all: the variants of one inventory call the plan
plugin directly (milliseconds each), as tests/test_plan_rules.py does."""
import re

import pytest

from conftest import SAMPLE_APP, plan, plan_module, role_context, role_options, role_values

COMMON = {"flask_nginx_app_src": SAMPLE_APP, "flask_nginx_app_name": "shop", "flask_nginx_server_names": ["Shop.Test"]}


def fleet(app1=None, app2=None):
    """One load balancer and three app hosts; app3 has no flask_nginx_app_address (the load
    balancer reaches it where it listens, as the role reads it from the host)."""
    return {"all": {"vars": COMMON, "children": {
        "flask_lb": {"hosts": {"lb1": {}}},
        "flask_app": {"hosts": {"app1": {"flask_nginx_app_address": "10.0.0.11", **(app1 or {})},
                                "app2": {"flask_nginx_app_address": "10.0.0.12", "flask_nginx_gunicorn": {"port": 8001},
                                         **(app2 or {})},
                                "app3": {"flask_nginx_app_address": "", "flask_nginx_fleet": {"private_network": True}}}},
    }}}


PLAN, OPTIONS = plan_module(), role_options()


def direct(host, inventory, **host_facts):
    """The plan plugin called directly on INVENTORY (its Python form) for HOST: (plan, refusals)."""
    common, groups, hostvars = inventory["all"]["vars"], {}, {}
    for group, members in inventory["all"]["children"].items():
        groups[group] = list(members["hosts"])
        for name, values in members["hosts"].items():
            hostvars.setdefault(name, {}).update(values or {})
    values = role_values(**common, **hostvars[host])
    return PLAN.make_plan(values, OPTIONS, role_context(values, host, groups, hostvars, **host_facts))


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    result, plans = plan(tmp_path_factory.mktemp("single"), {"all": {"hosts": {"web": COMMON}}})
    assert result.returncode == 0, result.stdout[-4000:]
    return plans["web"]


@pytest.fixture(scope="module")
def whole_fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    result, plans = plan(out, fleet())
    assert result.returncode == 0, result.stdout[-4000:]
    return out, plans


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    out = tmp_path_factory.mktemp("limited")
    result, plans = plan(out, fleet(), args=("--limit", "lb1"))
    assert result.returncode == 0, result.stdout[-4000:]
    return out, plans


def test_single_host_runs_everything_on_a_unix_socket(single):
    assert single["runs_app"] and single["runs_lb"]
    assert single["bind"] == ""
    assert single["upstream_servers"] == [{"key": "web", "value": "unix:/run/gunicorn-shop.sock"}]
    assert single["trusted_lbs"] == ["127.0.0.1"]
    assert single["server_names"] == ["shop.test"]  # lower-cased before anything uses it
    assert single["health_url"] == "http://127.0.0.1:80/healthz" and single["health_name"] == "shop.test"
    assert single["release_marker"] == ".complete"


def test_app_hosts_listen_on_their_private_address_and_trust_the_load_balancer(whole_fleet):
    _, plans = whole_fleet
    assert (plans["app1"]["bind"], plans["app2"]["bind"]) == ("10.0.0.11:8000", "10.0.0.12:8001")
    for app in ("app1", "app2", "app3"):
        assert not plans[app]["runs_lb"] and plans[app]["runs_app"]
        assert plans[app]["nginx_files"] == [], plans[app]["nginx_files"]  # no Nginx behind the load balancer
        assert plans[app]["health_url"].startswith(f"http://{plans[app]['bind']}/")
        # 127.0.0.1 and every IPv4 address of the load balancer (here: this machine's).
        assert plans[app]["trusted_lbs"][0] == "127.0.0.1" and len(plans[app]["trusted_lbs"]) >= 2


def test_load_balancer_sends_to_every_app_host_with_its_own_port(whole_fleet):
    out, plans = whole_fleet
    lb = plans["lb1"]
    assert lb["runs_lb"] and not lb["runs_app"] and lb["release_marker"] == ".code-complete"
    assert lb["upstream_servers"] == [
        {"key": "app1", "value": "10.0.0.11:8000 max_fails=2 fail_timeout=10s"},
        {"key": "app2", "value": "10.0.0.12:8001 max_fails=2 fail_timeout=10s"},
        {"key": "app3", "value": f"{plans['app3']['bind']} max_fails=2 fail_timeout=10s"},
    ]
    upstream = (out / "rendered" / "lb1" / "flask-nginx-upstream-shop.conf").read_text()
    assert re.search(r"^    server 10\.0\.0\.11:8000 max_fails=2 fail_timeout=10s;$", upstream, re.M), upstream
    assert re.search(r"^    server 10\.0\.0\.12:8001 max_fails=2 fail_timeout=10s;$", upstream, re.M), upstream
    assert "unix:" not in upstream
    # What the plan lists is what is rendered: the site, its upstream, the default server and the
    # http-level files; app-only hosts render nothing.
    rendered = sorted(path.name for path in (out / "rendered" / "lb1").iterdir())
    assert rendered == sorted(dest.rsplit("/", 1)[1] for dest in lb["nginx_files"]), (rendered, lb["nginx_files"])
    assert {"flask-nginx-upstream-shop.conf", "shop.conf"} <= set(rendered), rendered
    assert not list((out / "rendered" / "app1").iterdir())


def test_a_limited_run_gives_the_load_balancer_the_same_upstream(whole_fleet, limited):
    _, full = whole_fleet
    _, plans = limited
    assert set(plans) == {"lb1"}
    assert plans["lb1"]["upstream_servers"] == full["lb1"]["upstream_servers"]


def test_app_host_without_an_address_is_reached_where_it_listens(whole_fleet, limited):
    """No flask_nginx_app_address (app3): the app host's default IPv4 address, as the load
    balancer learns it, also when the run does not visit the app host."""
    _, full = whole_fleet
    _, plans = limited
    app3 = full["app3"]["bind"]
    assert re.fullmatch(r"[0-9.]+:8000", app3), app3
    assert {"key": "app3", "value": f"{app3} max_fails=2 fail_timeout=10s"} in plans["lb1"]["upstream_servers"]


def test_gunicorn_on_a_public_address_is_refused_before_any_change():
    _, refused = direct("app1", fleet(app1={"flask_nginx_app_address": "203.0.113.5"}))
    assert refused and "Gunicorn would listen on 203.0.113.5:8000" in refused[0], refused
    assert "flask_nginx_fleet.private_network: true" in refused[0]


@pytest.mark.parametrize("setting", [{"flask_nginx_firewall": {"enabled": True}}, {"flask_nginx_fleet": {"private_network": True}}])
def test_a_public_address_is_accepted_behind_the_firewall_or_on_a_private_network(setting):
    found, refused = direct("app1", fleet(app1={"flask_nginx_app_address": "203.0.113.5", **setting}))
    assert not refused, refused
    assert found["listen"]["bind"] == "203.0.113.5:8000"


def acme_fleet(**extra):
    """Two load balancers (one of them also an app host) and one app host, ACME."""
    common = {**COMMON, "flask_nginx_server_names": ["shop.test", "www.shop.test"], "flask_nginx_tls_mode": "acme",
              "flask_nginx_acme_email": "ops@shop.test", "flask_nginx_fleet": {"private_network": True}, **extra}
    return {"all": {"vars": common, "children": {
        "flask_lb": {"hosts": {"lb1": {"flask_nginx_app_address": "10.0.0.11"}, "lb2": {}}},
        "flask_app": {"hosts": {"lb1": {}, "app2": {"flask_nginx_app_address": "10.0.0.12"}}},
    }}}


@pytest.fixture(scope="module")
def two_lbs(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_lbs")
    result, plans = plan(out, acme_fleet())
    assert result.returncode == 0, result.stdout[-4000:]
    return out, plans


def test_an_app_host_that_also_balances_listens_on_tcp_when_another_load_balancer_needs_it(two_lbs):
    """A load balancer without an app (lb2) reaches every app host, so lb1, which runs
    Nginx too, listens on TCP, and both load balancers send to both app hosts."""
    _, plans = two_lbs
    assert plans["lb1"]["bind"] == "10.0.0.11:8000"
    for lb in ("lb1", "lb2"):
        assert sorted(s["key"] for s in plans[lb]["upstream_servers"]) == ["app2", "lb1"], plans[lb]["upstream_servers"]
        assert "unix:" not in str(plans[lb]["upstream_servers"])


def test_one_load_balancer_asks_the_ca_and_the_other_passes_it_the_challenges(two_lbs):
    out, plans = two_lbs
    issuer, follower = plans["lb1"], plans["lb2"]
    assert issuer["acme_issues_here"] and not issuer["acme_follower"] and issuer["acme_needed"]
    assert follower["acme_follower"] and not follower["acme_issues_here"] and not follower["acme_needed"]
    assert issuer["acme_issuer"] == follower["acme_issuer"] == "lb1"
    # certbot's lineage on the issuer; a copy beside it on the follower.
    assert issuer["tls_cert"] == "/etc/letsencrypt/live/shop/fullchain.pem"
    assert follower["tls_cert"] == "/etc/flask-nginx/shop/tls/certificate-and-key.pem"
    issuer_site = (out / "rendered" / "lb1" / "shop.conf").read_text()
    follower_site = (out / "rendered" / "lb2" / "shop.conf").read_text()
    assert "root /var/www/flask-nginx-acme;" in issuer_site and "proxy_pass http://" not in issuer_site.split("acme-challenge")[1][:200]
    address = follower["acme_issuer_address"]
    assert re.fullmatch(r"[0-9.]+:80", address), address
    assert f"proxy_pass http://{address};" in follower_site
    assert "root /var/www/flask-nginx-acme;" not in follower_site


def test_the_issuer_can_be_chosen():
    inventory = acme_fleet(flask_nginx_acme_issuer="lb2")
    found = {}
    for name in ("lb1", "lb2", "app2"):
        found[name], refused = direct(name, inventory)
        assert not refused, refused
    assert found["lb2"]["tls"]["issues_here"] and found["lb1"]["tls"]["follower"]
    assert not found["app2"]["tls"]["issues_here"] and not found["app2"]["tls"]["follower"]


def test_an_issuer_outside_the_load_balancers_is_refused():
    _, refused = direct("lb1", acme_fleet(flask_nginx_acme_issuer="app2"))
    assert any('flask_nginx_acme_issuer = "app2" is refused' in line for line in refused), refused
