"""Values that would reach a unit file, the Nginx configuration, nftables or the host's accounts
unchecked are refused by the plan before any change (roles/flask_nginx/action_plugins/
flask_nginx_plan.py), each message naming the variable, its value as JSON and what is allowed.
The plan's functions are called directly on made-up inventories (milliseconds each)."""
import json
import re

import pytest

from conftest import ROLE, SAMPLE_APP, load_yaml, nested, plan_module, role_context, role_options, role_values

PLAN = plan_module()
OPTIONS = role_options()


def refusals(stage="rules", host="web", groups=None, hostvars=None, context=None, **overrides):
    """The plan's refusals for the role's defaults with OVERRIDES, on HOST of GROUPS."""
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **overrides)
    _, refused = PLAN.make_plan(values, OPTIONS, role_context(values, host, groups, hostvars, **(context or {})), stage)
    return refused


def refused(name, value):
    return f"{name} = {json.dumps(value)} is refused"


FLEET = {"all": ["lb1", "app1"], "ungrouped": [], "flask_lb": ["lb1"], "flask_app": ["app1"]}

# name -> (variables over the defaults, text the refusal must hold).
BAD = {
    # Unit files (gunicorn.service, worker@.service, job.service, job.timer).
    "writable-dir-injects-a-line": ({"flask_nginx_app_writable_dirs": ["/srv/data\nExecStartPre=+/bin/sh -c 'id >/root/x'"]},
                                    refused("flask_nginx_app_writable_dirs",
                                            ["/srv/data\nExecStartPre=+/bin/sh -c 'id >/root/x'"])),
    "writable-dir-root": ({"flask_nginx_app_writable_dirs": ["/"]}, refused("flask_nginx_app_writable_dirs", ["/"])),
    "writable-dir-etc": ({"flask_nginx_app_writable_dirs": ["/etc/flaskapp"]},
                         refused("flask_nginx_app_writable_dirs", ["/etc/flaskapp"])),
    "writable-dir-dpkg": ({"flask_nginx_app_writable_dirs": ["/var/lib/dpkg"]},
                          refused("flask_nginx_app_writable_dirs", ["/var/lib/dpkg"])),
    "writable-dir-usr-local": ({"flask_nginx_app_writable_dirs": ["/usr/local/bin"]},
                               refused("flask_nginx_app_writable_dirs", ["/usr/local/bin"])),
    "writable-dir-app-root": ({"flask_nginx_app_writable_dirs": ["/opt/flaskapp"]},
                              refused("flask_nginx_app_writable_dirs", ["/opt/flaskapp"])),
    "writable-dir-releases": ({"flask_nginx_app_writable_dirs": ["/opt/flaskapp/releases/x"]},
                              refused("flask_nginx_app_writable_dirs", ["/opt/flaskapp/releases/x"])),
    "writable-dir-above-app-root": ({"flask_nginx_app_root": "/srv/apps/flaskapp", "flask_nginx_app_writable_dirs": ["/srv/apps"]},
                                    refused("flask_nginx_app_writable_dirs", ["/srv/apps"])),
    "writable-dir-specifier": ({"flask_nginx_app_writable_dirs": ["/srv/50%off"]},
                               refused("flask_nginx_app_writable_dirs", ["/srv/50%off"])),
    "writable-dir-relative": ({"flask_nginx_app_writable_dirs": ["srv/data"]}, refused("flask_nginx_app_writable_dirs", ["srv/data"])),
    "writable-dir-dotdot": ({"flask_nginx_app_writable_dirs": ["/srv/../etc"]},
                            refused("flask_nginx_app_writable_dirs", ["/srv/../etc"])),
    "writable-dirs-string": ({"flask_nginx_app_writable_dirs": "/srv/data"}, refused("flask_nginx_app_writable_dirs", "/srv/data")),
    "timer-delay-injects-a-line": ({"flask_nginx_timers": [{"name": "j", "command": "true", "on_calendar": "hourly",
                                                            "randomized_delay": "0\nUnit=reboot.target"}]},
                                   refused("flask_nginx_timers", [{"name": "j", "on_calendar": "hourly",
                                                                   "randomized_delay": "0\nUnit=reboot.target"}])),
    "timer-delay-words": ({"flask_nginx_timers": [{"name": "j", "command": "true", "on_calendar": "hourly",
                                                   "randomized_delay": "a while"}]}, "flask_nginx_timers = "),
    "timer-calendar-words": ({"flask_nginx_timers": [{"name": "j", "command": "true", "on_calendar": "every tuesday-ish"}]},
                             refused("flask_nginx_timers", [{"name": "j", "on_calendar": "every tuesday-ish",
                                                             "randomized_delay": "0"}])),
    "timer-calendar-carriage-return": ({"flask_nginx_timers": [{"name": "j", "command": "true", "on_calendar": "daily\r"}]},
                                       "flask_nginx_timers = "),
    "timer-command-carriage-return": ({"flask_nginx_timers": [{"name": "j", "command": "true\rUnit=x", "on_calendar": "daily"}]},
                                      "flask_nginx_timers = "),
    "worker-stop-timeout-injects-a-line": ({"flask_nginx_workers": [{"name": "w", "command": "true",
                                                                     "stop_timeout": "5\nExecStartPre=+/bin/true"}]},
                                           refused("flask_nginx_workers", ["w"])),
    # Nginx (site.conf, default servers).
    "header-value-crlf": ({"flask_nginx_security_headers": {"X-Frame-Options": "DENY\r\nSet-Cookie: session=attacker"}},
                          refused("flask_nginx_security_headers", {"X-Frame-Options": "DENY\r\nSet-Cookie: session=attacker"})),
    "header-name-directive": ({"flask_nginx_security_headers": {"X-A always; add_header X-B": "1"}},
                              refused("flask_nginx_security_headers", {"X-A always; add_header X-B": "1"})),
    "header-value-quote": ({"flask_nginx_security_headers": {"X-A": 'a" always; add_header X-B "b'}},
                           refused("flask_nginx_security_headers", {"X-A": 'a" always; add_header X-B "b'})),
    "header-value-backslash": ({"flask_nginx_security_headers": {"X-A": "a\\"}},
                               refused("flask_nginx_security_headers", {"X-A": "a\\"})),
    "headers-string": ({"flask_nginx_security_headers": "X-A: 1"}, refused("flask_nginx_security_headers", "X-A: 1")),
    "acme-webroot-relative-directive": ({"flask_nginx_acme_webroot": "www;autoindex"},
                                        refused("flask_nginx_acme_webroot", "www;autoindex")),
    "acme-webroot-tmp": ({"flask_nginx_acme_webroot": "/tmp"}, refused("flask_nginx_acme_webroot", "/tmp")),
    "acme-webroot-etc": ({"flask_nginx_acme_webroot": "/etc/nginx"}, refused("flask_nginx_acme_webroot", "/etc/nginx")),
    "acme-webroot-variable": ({"flask_nginx_acme_webroot": "/var/www/$host"}, refused("flask_nginx_acme_webroot", "/var/www/$host")),
    "acme-webroot-space": ({"flask_nginx_acme_webroot": "/var/www/a b"}, refused("flask_nginx_acme_webroot", "/var/www/a b")),
    "acme-webroot-in-app-root": ({"flask_nginx_acme_webroot": "/opt/flaskapp/acme"},
                                 refused("flask_nginx_acme_webroot", "/opt/flaskapp/acme")),
    "app-root-is-acme-webroot": ({"flask_nginx_app_root": "/var/www/flask-nginx-acme"},
                                 refused("flask_nginx_acme_webroot", "/var/www/flask-nginx-acme")),
    # A group's key reaches a directive of its own (limits.conf, site.conf).
    "rate-directive": ({"flask_nginx_rate_limit": {"rate": "10r/s;limit_req_zone"}},
                       refused("flask_nginx_rate_limit.rate", "10r/s;limit_req_zone")),
    "log-buffer-directive": ({"flask_nginx_logs": {"buffer": "64k;\naccess_log off"}},
                             refused("flask_nginx_logs.buffer", "64k;\naccess_log off")),
    "timeout-directive": ({"flask_nginx_timeouts": {"websocket_read": "1h;return 200"}},
                          refused("flask_nginx_timeouts.websocket_read", "1h;return 200")),
    "app-address-two-words": ({"flask_nginx_app_address": "10.0.0.5 backup"}, refused("flask_nginx_app_address", "10.0.0.5 backup")),
    "app-address-name": ({"flask_nginx_app_address": "app1.internal"}, refused("flask_nginx_app_address", "app1.internal")),
    "app-address-ipv6-without-brackets": ({"flask_nginx_app_address": "fd00::5"}, refused("flask_nginx_app_address", "fd00::5")),
    "app-address-with-port": ({"flask_nginx_app_address": "10.0.0.5:8000"}, refused("flask_nginx_app_address", "10.0.0.5:8000")),
    "app-address-not-an-address": ({"flask_nginx_app_address": "999.0.0.1"}, refused("flask_nginx_app_address", "999.0.0.1")),
    "app-root-nginx-variable": ({"flask_nginx_app_root": "/srv/app$http_x"}, refused("flask_nginx_app_root", "/srv/app$http_x")),
    "app-root-systemd-specifier": ({"flask_nginx_app_root": "/srv/50%off"}, refused("flask_nginx_app_root", "/srv/50%off")),
    "app-root-semicolon": ({"flask_nginx_app_root": "/srv/a;b"}, refused("flask_nginx_app_root", "/srv/a;b")),
    "app-root-quote": ({"flask_nginx_app_root": "/srv/a'b"}, refused("flask_nginx_app_root", "/srv/a'b")),
    # nftables (firewall-app.nft).
    "allow-from-everyone": ({"flask_nginx_firewall": {"allow_from": ["0.0.0.0/0"]}},
                            refused("flask_nginx_firewall.allow_from", ["0.0.0.0/0"])),
    "allow-from-nft-fragment": ({"flask_nginx_firewall": {"allow_from": ["10.0.0.0/8 } accept; ip saddr { 0.0.0.0/0"]}},
                                refused("flask_nginx_firewall.allow_from", ["10.0.0.0/8 } accept; ip saddr { 0.0.0.0/0"])),
    "allow-from-ipv6": ({"flask_nginx_firewall": {"allow_from": ["2001:db8::/32"]}},
                        refused("flask_nginx_firewall.allow_from", ["2001:db8::/32"])),
    "allow-from-name": ({"flask_nginx_firewall": {"allow_from": ["office.example.com"]}},
                        refused("flask_nginx_firewall.allow_from", ["office.example.com"])),
    "allow-from-host-bits": ({"flask_nginx_firewall": {"allow_from": ["10.0.0.1/8"]}},
                             refused("flask_nginx_firewall.allow_from", ["10.0.0.1/8"])),
    "allow-from-overlap": ({"flask_nginx_firewall": {"allow_from": ["10.0.0.0/8", "10.1.2.3"]}},
                           refused("flask_nginx_firewall.allow_from", ["10.0.0.0/8", "10.1.2.3"])),
    "allow-from-string": ({"flask_nginx_firewall": {"allow_from": "10.0.0.0/8"}},
                          refused("flask_nginx_firewall.allow_from", "10.0.0.0/8")),
    # A key with a typo would be dropped unseen: the firewall would let in what the play meant to keep out.
    "firewall-unknown-key": ({"flask_nginx_firewall": {"enabled": True, "allow_only_from": ["10.0.0.0/8"]}},
                             'flask_nginx_firewall.allow_only_from = ["10.0.0.0/8"] is refused: not a key of flask_nginx_firewall'),
    "firewall-string": ({"flask_nginx_firewall": "on"}, 'flask_nginx_firewall = "on" is refused: a dict of the keys to change'),
    # pip reads the requirements file as root.
    "requirements-escapes": ({"flask_nginx_app_requirements_file": "../../../../etc/shadow"},
                             refused("flask_nginx_app_requirements_file", "../../../../etc/shadow")),
    "requirements-absolute": ({"flask_nginx_app_requirements_file": "/etc/shadow"},
                              refused("flask_nginx_app_requirements_file", "/etc/shadow")),
    "requirements-dotdot-inside": ({"flask_nginx_app_requirements_file": "requirements/../../x.txt"},
                                   refused("flask_nginx_app_requirements_file", "requirements/../../x.txt")),
    "requirements-space": ({"flask_nginx_app_requirements_file": "a b.txt"}, refused("flask_nginx_app_requirements_file", "a b.txt")),
    # Trusted proxies (set_real_ip_from): every client's X-Forwarded-For would be believed.
    "trusted-proxies-two-halves-v4": ({"flask_nginx_trusted_proxies": ["0.0.0.0/1", "128.0.0.0/1"]},
                                      refused("flask_nginx_trusted_proxies", ["0.0.0.0/1", "128.0.0.0/1"])),
    "trusted-proxies-two-halves-v6": ({"flask_nginx_trusted_proxies": ["::/1", "8000::/1"]},
                                      refused("flask_nginx_trusted_proxies", ["::/1", "8000::/1"])),
    "trusted-proxies-everyone-v6": ({"flask_nginx_trusted_proxies": ["10.0.0.0/8", "::/0"]},
                                    refused("flask_nginx_trusted_proxies", ["10.0.0.0/8", "::/0"])),
    "trusted-proxies-any-prefix-0": ({"flask_nginx_trusted_proxies": ["10.0.0.0/0"]},
                                     refused("flask_nginx_trusted_proxies", ["10.0.0.0/0"])),
    "trusted-proxies-short-v4": ({"flask_nginx_trusted_proxies": ["64.0.0.0/2"]},
                                 refused("flask_nginx_trusted_proxies", ["64.0.0.0/2"])),
    "trusted-proxies-colon": ({"flask_nginx_trusted_proxies": [":"]}, refused("flask_nginx_trusted_proxies", [":"])),
    # The exporter publishes unauthenticated metrics.
    "metrics-on-every-interface": ({"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "0.0.0.0:9113"},
                                   refused("flask_nginx_metrics_listen", "0.0.0.0:9113")),
    "metrics-on-every-interface-v6": ({"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "[::]:9113"},
                                      refused("flask_nginx_metrics_listen", "[::]:9113")),
    "metrics-on-a-public-address": ({"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "203.0.113.5:9113"},
                                    refused("flask_nginx_metrics_listen", "203.0.113.5:9113")),
    "metrics-on-a-name-that-looks-private": ({"flask_nginx_metrics": True,
                                              "flask_nginx_metrics_listen": "10.0.0.5.attacker.example:9113"},
                                             refused("flask_nginx_metrics_listen", "10.0.0.5.attacker.example:9113")),
    # Ports and DNS server.
    "http-port-is-https-port": ({"flask_nginx_tls_mode": "selfsigned", "flask_nginx_https_port": 80},
                                refused("flask_nginx_http_port, flask_nginx_https_port", [80, 80])),
    # workers.yml removes the units that match NAME-worker-* and NAME-job-*: app shop's would
    # match those of an app named shop-job-x.
    "app-name-job-infix": ({"flask_nginx_app_name": "shop-job-x"}, refused("flask_nginx_app_name", "shop-job-x")),
    "app-name-worker-suffix": ({"flask_nginx_app_name": "shop-worker"}, refused("flask_nginx_app_name", "shop-worker")),
    "dns01-md5": ({"flask_nginx_tls_mode": "acme", "flask_nginx_acme_email": "ops@example.com",
                   "flask_nginx_acme_challenge": "dns-01", "flask_nginx_acme_dns_server": "192.0.2.53",
                   "flask_nginx_acme_dns_tsig_key_name": "k.", "flask_nginx_acme_dns_tsig_secret": "c2VjcmV0",
                   "flask_nginx_acme_dns_tsig_algorithm": "HMAC-MD5"},
                  refused("flask_nginx_acme_dns_tsig_algorithm", "HMAC-MD5")),
    "dns01-server-colon": ({"flask_nginx_tls_mode": "acme", "flask_nginx_acme_email": "ops@example.com",
                            "flask_nginx_acme_challenge": "dns-01", "flask_nginx_acme_dns_server": ":",
                            "flask_nginx_acme_dns_tsig_key_name": "k.", "flask_nginx_acme_dns_tsig_secret": "c2VjcmV0"},
                           refused("flask_nginx_acme_dns_server", ":")),
}

GOOD = {
    "defaults": {},
    "writable-dirs": {"flask_nginx_app_writable_dirs": ["/srv/flaskapp-uploads", "/var/log/flaskapp", "/opt/flaskapp/data",
                                                        "/var/www/media.example.com"]},
    "timers": {"flask_nginx_timers": [
        {"name": "a", "command": "flask report", "on_calendar": "Mon..Fri *-*-* 03:00:00", "randomized_delay": "5m"},
        {"name": "b", "command": "x", "on_calendar": "Sat,Sun 10:00 Europe/Berlin", "randomized_delay": "1h 30min"},
        {"name": "c", "command": "x", "on_calendar": "*:0/15", "randomized_delay": "90"},
        {"name": "d", "command": "x", "on_calendar": "*-*-01 04:00:00 UTC", "randomized_delay": "2.5s"},
        {"name": "e", "command": "x", "on_calendar": "weekly"},
        {"name": "f", "command": "x", "on_calendar": "2030-01-01", "randomized_delay": "1d"},
        {"name": "g", "command": "x", "on_calendar": "*-*~03"}]},
    "workers": {"flask_nginx_workers": [{"name": "w", "command": "flask worker", "stop_timeout": "60"}]},
    "headers": {"flask_nginx_security_headers": {"Permissions-Policy": "geolocation=(), camera=()", "X-Frame-Options": "",
                                                  "Content-Security-Policy": "default-src 'self'; img-src *"}},
    "acme-webroot": {"flask_nginx_acme_webroot": "/srv/acme-challenges"},
    "partial-groups": {"flask_nginx_firewall": {"enabled": True}, "flask_nginx_rate_limit": {"rate": "20r/s"},
                       "flask_nginx_logs": {"buffer": ""}, "flask_nginx_timeouts": {"websocket_read": "1h"}},
    "app-address-v4": {"flask_nginx_app_address": "10.0.0.5"},
    "app-address-v6": {"flask_nginx_app_address": "[fd00::5]"},
    "app-root": {"flask_nginx_app_root": "/srv/apps/shop.example.com_v2"},
    "allow-from": {"flask_nginx_firewall": {"allow_from": ["10.0.0.0/8", "192.0.2.7", "198.51.100.0/24"]}},
    "requirements": {"flask_nginx_app_requirements_file": "requirements/prod.txt"},
    "no-requirements": {"flask_nginx_app_requirements_file": ""},
    "trusted-proxies": {"flask_nginx_trusted_proxies": ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1", "fc00::/7",
                                                         "173.245.48.0/20", "2400:cb00::/32"]},
    "metrics-loopback": {"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "127.0.0.1:9113"},
    "metrics-private": {"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "10.0.0.5:9113"},
    "metrics-localhost-v6": {"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "[::1]:9113"},
    "metrics-localhost": {"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "localhost:9113"},
    "metrics-public-behind-the-firewall": {"flask_nginx_metrics": True, "flask_nginx_metrics_listen": "0.0.0.0:9113",
                                           "flask_nginx_firewall": {"enabled": True}},
    "metrics-off": {"flask_nginx_metrics": False, "flask_nginx_metrics_listen": "0.0.0.0:9113"},
    "http-port-is-https-port-without-tls": {"flask_nginx_https_port": 80},
    "app-name-with-job-and-worker-words": {"flask_nginx_app_name": "jobs-workers"},
}


@pytest.mark.parametrize("case", BAD)
def test_an_unsafe_value_is_refused_naming_the_variable_and_its_value(case):
    overrides, text = BAD[case]
    found = " | ".join(refusals(**overrides))
    assert found, f"accepted: {overrides}"
    assert text in found, f"refused, but without {text!r}:\n{found}"


@pytest.mark.parametrize("case", GOOD)
def test_a_sound_value_is_accepted(case):
    assert refusals(**GOOD[case]) == []


def test_the_gzip_settings_of_the_role_are_single_mime_types_without_event_stream():
    """gzip_types and gzip_comp_level are the role's own (vars/main.yml), no rule checks them: one
    TYPE/SUBTYPE per item (a space or ';' would add types or directives), never text/event-stream
    (gzip would hold a stream back) nor '*'; a level Nginx takes (1 to 9)."""
    tables = load_yaml(ROLE / "vars" / "main.yml")
    types, pattern = tables["__flask_nginx_gzip_types"], tables["__flask_nginx_patterns"]["mime_type"]
    assert isinstance(types, list) and types and all(re.match(pattern, str(t)) for t in types), types
    assert "text/event-stream" not in [str(t).lower() for t in types], types
    assert type(tables["__flask_nginx_gzip_comp_level"]) is int and 1 <= tables["__flask_nginx_gzip_comp_level"] <= 9


def test_gunicorn_on_a_name_that_only_starts_like_a_private_address_is_refused():
    """10.0.0.5.attacker.example is a public name: the private-address check reads the whole value."""
    hostvars = {"lb1": {}, "app1": {}}
    found = refusals("host", "app1", FLEET, hostvars, flask_nginx_gunicorn={"bind": "10.0.0.5.attacker.example:8000"})
    assert found and found[0].startswith("Gunicorn would listen on 10.0.0.5.attacker.example:8000"), found
    assert refusals("host", "app1", FLEET, hostvars, flask_nginx_gunicorn={"bind": "10.0.0.5:8000"}) == []


@pytest.mark.parametrize(("variable", "value", "other"), [
    ("flask_nginx_fleet.app_hosts", "flask_apps", "flask_lb"),
    ("flask_nginx_fleet.lb_hosts", "flask_lbs", "flask_app"),
])
def test_a_misnamed_fleet_group_is_refused(variable, value, other):
    """A typo in one group's name, the other group present: every host would run everything."""
    found = " | ".join(refusals(host="lb1", groups=FLEET, **nested(variable, value)))
    assert refused(variable, value) in found, found
    assert f"group {other}" in found and "its groups: flask_app, flask_lb" in found, found


@pytest.mark.parametrize("groups", [{"all": ["web"], "ungrouped": ["web"]}, FLEET, {"all": ["web"], "flask_app": ["web"]}],
                         ids=["single-host", "fleet", "app-hosts-alone"])
def test_a_play_with_both_fleet_groups_or_neither_is_accepted(groups):
    assert refusals(host="web", groups=groups) == []


# The app's name names /var/lib/NAME (systemd's StateDirectory=, handed to the app's user with
# all it holds), its account and its units; the app's user must be an account of its own.
@pytest.mark.parametrize("name", ["dpkg", "apt", "systemd", "letsencrypt", "flask-nginx", "nginx", "root", "private",
                                  "postgresql", "systemd-anything"])
def test_an_app_name_that_names_a_system_directory_or_account_is_refused(name):
    found = " | ".join(refusals(flask_nginx_app_name=name, flask_nginx_app_user="shop"))
    assert refused("flask_nginx_app_name", name) in found, found


@pytest.mark.parametrize("user", ["root", "postgres", "www-data", "nobody", "redis", "prometheus", "_chrony",
                                  "systemd-coredump", "letsencrypt"])
def test_a_system_account_as_the_app_user_is_refused(user):
    found = " | ".join(refusals(flask_nginx_app_user=user))
    assert refused("flask_nginx_app_user", user) in found, found


# The app's group has its user's name: a privileged or shared group's name would give the app that group.
@pytest.mark.parametrize("user", ["docker", "adm", "sudo", "shadow", "disk", "lxd"])
def test_an_app_user_named_like_a_privileged_group_is_refused(user):
    found = " | ".join(refusals(flask_nginx_app_user=user))
    assert refused("flask_nginx_app_user", user) in found and "a privileged or shared group's name" in found, found


def account(comment="flask-nginx app flaskapp", home="/opt/flaskapp", groups=(), group="flaskapp"):
    return {"exists": True, "home": home, "shell": "/usr/sbin/nologin", "group": group, "comment": comment,
            "groups": list(groups)}


def on_host(users=None, groups=None, state_dir=None, **overrides):
    """The host-stage refusals of a single host whose probe found USERS, GROUPS and the state directory."""
    probe = {"users": users or {}, "groups": groups or {},
             "paths": {"state_dir": state_dir or {"path": "/var/lib/flaskapp", "type": "absent"}}}
    return refusals("host", context={"probe": probe}, **overrides)


@pytest.mark.parametrize(("users", "groups", "state_dir"), [
    ({"flaskapp": {"exists": False}}, {"flaskapp": {"exists": False, "members": [], "users": []}}, None),
    ({"flaskapp": account()}, {"flaskapp": {"exists": True, "members": [], "users": ["flaskapp"]}},
     {"path": "/var/lib/flaskapp", "type": "directory", "owner": "flaskapp"}),
    # Made by an earlier version of the role: no comment, its home the app root.
    ({"flaskapp": account(comment="")}, {"flaskapp": {"exists": True, "members": ["flaskapp"], "users": ["flaskapp"]}}, None),
], ids=["new", "made-by-the-role", "made-by-an-earlier-role"])
def test_the_app_s_own_account_and_state_directory_are_accepted(users, groups, state_dir):
    assert on_host(users, groups, state_dir) == []


@pytest.mark.parametrize(("user", "found", "says"), [
    ("deploy", account(comment="Deploy", home="/home/deploy", groups=["docker"], group="deploy"),
     "the account exists and the role did not make it"),
    ("pgadmin", account(comment="", home="/var/lib/pgadmin", group="pgadmin"), "the account exists and the role did not make it"),
    ("shop", account(comment="flask-nginx app blog", home="/opt/blog", group="shop"), "the account exists and the role did not make it"),
    ("flaskapp", account(groups=["docker", "flaskapp-extra"]), "privileged group docker"),
], ids=["human-in-docker", "another-service", "another-app", "role-made-in-docker"])
def test_an_existing_account_the_role_did_not_make_or_a_privileged_one_is_refused(user, found, says):
    refusals_found = " | ".join(on_host({user: found}, {user: {"exists": False, "members": [], "users": []}},
                                        flask_nginx_app_user=user))
    assert f'flask_nginx_app_user = "{user}" is refused on web' in refusals_found and says in refusals_found, refusals_found


@pytest.mark.parametrize("group", [{"exists": True, "members": ["alice"], "users": []},
                                   {"exists": True, "members": [], "users": ["postgres"]}], ids=["members", "primary-of"])
def test_an_existing_group_that_is_not_the_app_s_alone_is_refused(group):
    """The app's group has its user's name: a group of that name that others use is not the app's."""
    found = " | ".join(on_host({"dbusers": {"exists": False}}, {"dbusers": group}, flask_nginx_app_user="dbusers"))
    assert 'flask_nginx_app_user = "dbusers" is refused on web: its group dbusers exists and is not the app\'s alone' in found, found


@pytest.mark.parametrize("state_dir", [{"path": "/var/lib/flaskapp", "type": "directory", "owner": "root"},
                                       {"path": "/var/lib/flaskapp", "type": "link", "owner": "root", "target": "/etc"}],
                         ids=["root-s", "a-link"])
def test_a_state_directory_that_exists_for_someone_else_is_refused(state_dir):
    found = " | ".join(on_host({"flaskapp": {"exists": False}}, {"flaskapp": {"exists": False, "members": [], "users": []}},
                               state_dir))
    assert 'flask_nginx_app_name = "flaskapp" is refused on web: /var/lib/flaskapp' in found, found
