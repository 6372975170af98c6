"""Who may reach the site and where it lives: the URL prefix (and the server block apps with a
prefix share), basic-auth logins and allowed clients, as the plan decides and refuses them. The
plan functions are called directly (roles/flask_nginx/action_plugins/flask_nginx_plan.py)."""
import json

import pytest

from conftest import SAMPLE_APP, plan_module, role_context, role_options, role_values

PLAN = plan_module()
OPTIONS = role_options()
SECRET = "correct horse battery staple"


def make(probe=None, **overrides):
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **overrides)
    return PLAN.make_plan(values, OPTIONS, role_context(values, probe=probe or {}))


def planned(probe=None, **overrides):
    result, refused = make(probe, **overrides)
    assert not refused, refused
    return result


def refused(name, value):
    return f"{name} = {json.dumps(value)} is refused"


BAD = {
    "prefix-without-slash": ({"flask_nginx_url_prefix": "shop"}, refused("flask_nginx_url_prefix", "shop")),
    "prefix-trailing-slash": ({"flask_nginx_url_prefix": "/shop/"}, refused("flask_nginx_url_prefix", "/shop/")),
    "prefix-root": ({"flask_nginx_url_prefix": "/"}, refused("flask_nginx_url_prefix", "/")),
    "prefix-space": ({"flask_nginx_url_prefix": "/my shop"}, refused("flask_nginx_url_prefix", "/my shop")),
    "prefix-dot-dot": ({"flask_nginx_url_prefix": "/shop/../admin"}, refused("flask_nginx_url_prefix", "/shop/../admin")),
    "prefix-hidden": ({"flask_nginx_url_prefix": "/.git"}, refused("flask_nginx_url_prefix", "/.git")),
    "prefix-semicolon": ({"flask_nginx_url_prefix": "/shop;return"}, refused("flask_nginx_url_prefix", "/shop;return")),
    "prefix-brace": ({"flask_nginx_url_prefix": "/shop{"}, refused("flask_nginx_url_prefix", "/shop{")),
    "prefix-double-slash": ({"flask_nginx_url_prefix": "//shop"}, refused("flask_nginx_url_prefix", "//shop")),
    "prefix-newline": ({"flask_nginx_url_prefix": "/shop\n"}, refused("flask_nginx_url_prefix", "/shop\n")),
    "prefix-error-pages": ({"flask_nginx_url_prefix": "/flask-nginx-errors"},
                           refused("flask_nginx_url_prefix", "/flask-nginx-errors")),
    "prefix-and-script-name": ({"flask_nginx_url_prefix": "/shop", "flask_nginx_app_env": {"SCRIPT_NAME": "/x"}},
                               refused("flask_nginx_app_env", ["SCRIPT_NAME"])),
    "user-with-colon": ({"flask_nginx_basic_auth_users": {"a:b": SECRET}}, refused("flask_nginx_basic_auth_users", ["a:b"])),
    "user-empty-name": ({"flask_nginx_basic_auth_users": {"": SECRET}}, refused("flask_nginx_basic_auth_users", [""])),
    "user-space": ({"flask_nginx_basic_auth_users": {"an editor": SECRET}},
                   refused("flask_nginx_basic_auth_users", ["an editor"])),
    "user-empty-password": ({"flask_nginx_basic_auth_users": {"editor": ""}}, refused("flask_nginx_basic_auth_users", ["editor"])),
    "user-password-newline": ({"flask_nginx_basic_auth_users": {"editor": "two\nlines"}},
                              refused("flask_nginx_basic_auth_users", ["editor"])),
    "user-password-bool": ({"flask_nginx_basic_auth_users": {"editor": True}}, refused("flask_nginx_basic_auth_users", ["editor"])),
    "user-password-none": ({"flask_nginx_basic_auth_users": {"editor": None}}, refused("flask_nginx_basic_auth_users", ["editor"])),
    "users-not-a-dict": ({"flask_nginx_basic_auth_users": ["editor"]}, refused("flask_nginx_basic_auth_users", "(not a dict)")),
    "allow-host-bits": ({"flask_nginx_client_allow": ["10.0.0.1/8"]}, refused("flask_nginx_client_allow", ["10.0.0.1/8"])),
    "allow-all-word": ({"flask_nginx_client_allow": ["all"]}, refused("flask_nginx_client_allow", ["all"])),
    "allow-prefix-too-long": ({"flask_nginx_client_allow": ["10.0.0.0/33"]}, refused("flask_nginx_client_allow", ["10.0.0.0/33"])),
    "allow-ipv6-host-bits": ({"flask_nginx_client_allow": ["2001:db8::1/32"]},
                             refused("flask_nginx_client_allow", ["2001:db8::1/32"])),
    "allow-name": ({"flask_nginx_client_allow": ["office.example.com"]},
                   refused("flask_nginx_client_allow", ["office.example.com"])),
    "allow-a-string": ({"flask_nginx_client_allow": "10.0.0.0/8"}, refused("flask_nginx_client_allow", "10.0.0.0/8")),
    "allow-empty-entry": ({"flask_nginx_client_allow": [""]}, refused("flask_nginx_client_allow", [""])),
    "location-allow-name": ({"flask_nginx_locations": [{"path": "/admin/", "allow": ["office"]}]},
                            refused("flask_nginx_locations", [{"path": "/admin/", "basic_auth": None, "allow": ["office"]}])),
    "location-allow-string": ({"flask_nginx_locations": [{"path": "/admin/", "allow": "10.0.0.0/8"}]},
                              refused("flask_nginx_locations", [{"path": "/admin/", "basic_auth": None, "allow": "10.0.0.0/8"}])),
    "location-basic-auth-word": ({"flask_nginx_locations": [{"path": "/admin/", "basic_auth": "maybe"}],
                                  "flask_nginx_basic_auth_users": {"editor": SECRET}},
                                 refused("flask_nginx_locations", [{"path": "/admin/", "basic_auth": "maybe", "allow": None}])),
    "location-login-without-users": ({"flask_nginx_locations": [{"path": "/admin/", "basic_auth": True}]},
                                     refused("flask_nginx_locations", ["/admin/"])),
    "health-path-root-with-login": ({"flask_nginx_basic_auth_users": {"editor": SECRET}, "flask_nginx_healthcheck": {"path": "/"}},
                                    refused("flask_nginx_healthcheck.path", "/")),
    # basic_auth: false on a location asks for no login there: the whole site still does.
    "health-path-root-with-login-and-a-location-without": ({"flask_nginx_basic_auth_users": {"editor": SECRET},
                                                            "flask_nginx_healthcheck": {"path": "/"},
                                                            "flask_nginx_locations": [{"path": "/ws/", "basic_auth": False}]},
                                                           refused("flask_nginx_healthcheck.path", "/")),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_access_value_is_refused_by_name_with_what_is_allowed(case):
    overrides, message = BAD[case]
    _, messages = make(**overrides)
    assert any(m.startswith(message) for m in messages), messages
    assert all(SECRET not in m for m in messages), messages  # a password is never shown


@pytest.mark.parametrize("overrides", [
    {"flask_nginx_url_prefix": "/shop"},
    {"flask_nginx_url_prefix": "/shop/v1.2~beta_x"},
    {"flask_nginx_basic_auth_users": {"editor": SECRET, "ops@example.com": 12345}},
    {"flask_nginx_client_allow": ["192.0.2.0/24", "198.51.100.7", "2001:db8::/32", "::1"]},
    {"flask_nginx_basic_auth_users": {"editor": SECRET},
     "flask_nginx_locations": [{"path": "/admin/", "basic_auth": "yes", "allow": []}]},
    # null (as the argument spec may fill in a suboption) is unset.
    {"flask_nginx_locations": [{"path": "/ws/", "basic_auth": None, "allow": None}]},
], ids=["prefix", "prefix-punctuation", "users", "networks", "location-login", "location-nulls"])
def test_good_access_values_pass(overrides):
    planned(**overrides)


def test_without_settings_the_site_is_open_at_the_root_as_before():
    plan = planned()
    access = plan["access"]
    assert (access["prefix"], access["front"], access["password_file"], access["allow"]) == ("", "", "", [])
    assert not access["site_auth"] and access["health_path"] == "/healthz" and access["static_url"] == "/static/"
    assert plan["health"]["url"] == "http://127.0.0.1:80/healthz"
    assert [f["dest"] for f in plan["files"]["nginx"] if f["src"] == "site.conf.j2"] == ["/etc/nginx/sites-available/flaskapp.conf"]
    assert plan["tls"]["cert_name"] == "flaskapp" and access["stale_files"] == []


def test_a_prefix_moves_the_app_static_files_and_health_check_under_it():
    plan = planned(flask_nginx_url_prefix="/shop", flask_nginx_server_names=["Shop.Test", "www.shop.test"],
                   flask_nginx_locations=[{"path": "/ws/"}, {"path": "= /api/stream"}, {"path": "^~  /uploads/"}])
    access = plan["access"]
    assert access["static_url"] == "/shop/static/" and access["health_path"] == "/shop/healthz"
    assert plan["health"]["url"] == "http://127.0.0.1:80/shop/healthz"
    assert [loc["path"] for loc in access["locations"]] == ["/shop/ws/", "= /shop/api/stream", "^~  /shop/uploads/"]


def test_an_app_with_a_prefix_is_mounted_in_the_server_block_of_its_first_name():
    plan = planned(flask_nginx_url_prefix="/shop", flask_nginx_app_name="shop",
                   flask_nginx_server_names=["Shop.Test", "www.shop.test"])
    access = plan["access"]
    assert access["front"] == "shop.test"
    assert access["front_file"] == "/etc/nginx/sites-available/flask-nginx-front-shop.test.conf"
    assert access["mount_file"] == "/etc/nginx/flask-nginx/fronts/shop.test/shop.conf"
    files = {f["dest"]: f for f in plan["files"]["nginx"]}
    assert "/etc/nginx/sites-available/shop.conf" not in files
    assert files[access["front_file"]]["src"] == "site.conf.j2" and files[access["front_file"]]["link"]
    assert files[access["mount_file"]]["src"] == "site-mount.conf.j2" and not files[access["mount_file"]]["link"]


@pytest.mark.parametrize("mode, directory", [
    ("selfsigned", "/etc/flask-nginx/fronts/shop.test/tls"),
    ("acme", "/etc/letsencrypt/live/shop.test"),
])
def test_the_apps_of_a_shared_server_block_share_its_certificate(mode, directory):
    """Whichever app writes the shared server block names the same certificate: the front's."""
    acme = {"flask_nginx_acme_email": "ops@shop.test"} if mode == "acme" else {}
    for app in ("shop", "blog"):
        plan = planned(flask_nginx_url_prefix=f"/{app}", flask_nginx_app_name=app, flask_nginx_server_names=["shop.test"],
                       flask_nginx_tls_mode=mode, **acme)
        assert plan["tls"]["cert_name"] == "shop.test"
        assert (plan["tls"]["dir"], plan["tls"]["cert"]) == (directory, f"{directory}/fullchain.pem")


def test_logins_and_allowed_clients_are_planned_without_a_password():
    plan = planned(flask_nginx_basic_auth_users={"editor": SECRET, "admin": "x"}, flask_nginx_client_allow=["192.0.2.0/24"])
    access = plan["access"]
    assert access["site_auth"] and access["users"] == ["admin", "editor"]
    assert access["password_file"] == "/etc/nginx/flask-nginx/flaskapp.htpasswd"
    assert access["allow"] == ["192.0.2.0/24"]
    assert access["health_allow"] == ["127.0.0.1", "::1", "192.0.2.0/24"]  # the role's own health check
    assert SECRET not in json.dumps(plan)


def test_a_location_that_asks_for_a_login_makes_only_the_locations_that_ask_protected():
    """Some location says basic_auth: true: only those ask for a login, not the whole site."""
    plan = planned(flask_nginx_basic_auth_users={"editor": SECRET},
                   flask_nginx_locations=[{"path": "/admin/", "basic_auth": "true"},
                                          {"path": "/internal/", "allow": ["10.0.0.0/8"]}])
    access = plan["access"]
    assert not access["site_auth"] and access["password_file"]
    assert access["locations"] == [{"path": "/admin/", "basic_auth": True, "allow": None, "login": True},
                                   {"path": "/internal/", "basic_auth": None, "allow": ["10.0.0.0/8"], "login": False}]


@pytest.mark.parametrize(("locations", "site_auth", "logins"), [
    ([], True, []),
    ([{"path": "/ws/"}], True, [True]),  # the site's login
    ([{"path": "/ws/", "basic_auth": False}, {"path": "/api/", "basic_auth": "no"}], True, [False, False]),
    ([{"path": "/ws/"}, {"path": "/admin/", "basic_auth": "yes"}], False, [False, True]),
], ids=["no-location", "a-location-without-a-word", "locations-that-say-false", "a-location-that-asks"])
def test_with_logins_the_whole_site_asks_unless_a_location_says_basic_auth_true(locations, site_auth, logins):
    access = planned(flask_nginx_basic_auth_users={"editor": SECRET}, flask_nginx_locations=locations)["access"]
    assert access["site_auth"] is site_auth and access["password_file"]
    assert [loc["login"] for loc in access["locations"]] == logins


SITES, ENABLED, FRONTS = "/etc/nginx/sites-available", "/etc/nginx/sites-enabled", "/etc/nginx/flask-nginx/fronts"


def stale(found, **overrides):
    return planned(probe={"globs": {"access_files": found}}, flask_nginx_app_name="shop", **overrides)["access"]["stale_files"]


def test_a_new_prefix_removes_the_apps_own_server_block():
    found = [f"{SITES}/shop.conf", f"{ENABLED}/shop.conf", f"{SITES}/blog.conf"]
    assert stale(found, flask_nginx_url_prefix="/shop", flask_nginx_server_names=["shop.test"]) == \
        [f"{SITES}/shop.conf", f"{ENABLED}/shop.conf"]
    assert stale(found, flask_nginx_server_names=["shop.test"]) == []  # no prefix: its own, kept


def test_leaving_a_shared_server_block_removes_the_mount_and_a_server_block_left_empty():
    found = [f"{FRONTS}/old.test/shop.conf", f"{SITES}/flask-nginx-front-old.test.conf",
             f"{ENABLED}/flask-nginx-front-old.test.conf",
             f"{FRONTS}/both.test/shop.conf", f"{FRONTS}/both.test/blog.conf", f"{SITES}/flask-nginx-front-both.test.conf",
             f"{FRONTS}/new.test/shop.conf"]
    assert stale(found, flask_nginx_url_prefix="/shop", flask_nginx_server_names=["new.test"]) == [
        f"{FRONTS}/both.test/shop.conf", f"{FRONTS}/old.test/shop.conf",
        f"{SITES}/flask-nginx-front-old.test.conf", f"{ENABLED}/flask-nginx-front-old.test.conf"]
    # Back to a server block of its own: every mount of the app goes.
    assert f"{FRONTS}/new.test/shop.conf" in stale(found, flask_nginx_server_names=["new.test"])


def test_a_password_file_no_longer_used_is_removed():
    found = ["/etc/nginx/flask-nginx/shop.htpasswd"]
    assert stale(found) == found
    assert stale(found, flask_nginx_basic_auth_users={"editor": SECRET}) == []
