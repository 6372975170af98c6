"""The role's variables: defaults and argument spec agree, and bad values stop the play before any change."""
import json
import re

import pytest

from conftest import (ROLE, SAMPLE_APP, ansible_playbook, dotted, load_yaml, plan_module, role_context, role_values,
                      spec_groups)

DEFAULTS = load_yaml(ROLE / "defaults" / "main.yml")
OPTIONS = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
# The grouped options (flask_nginx_timeouts, ...): defaults/main.yml holds each as a whole dict,
# the spec as a dict option with a spec (and a default) per key.
GROUPS = spec_groups(OPTIONS)
KEYS = sorted(f"{group}.{key}" for group, keys in GROUPS.items() for key in keys)


def spec_of(name):
    """The spec of an option, or of a group's key by its dotted name (flask_nginx_timeouts.proxy_read)."""
    group, dot, key = name.partition(".")
    return GROUPS[group][key] if dot else OPTIONS[name]


def spec_default(name):
    """The default the spec gives NAME; a group's: the dict of its keys' defaults."""
    if name in GROUPS:
        return {key: spec.get("default") for key, spec in GROUPS[name].items()}
    return spec_of(name).get("default")


def test_defaults_and_spec_declare_the_same_variables():
    assert not (only := sorted(set(DEFAULTS) - set(OPTIONS))), f"not in meta/argument_specs.yml: {only}"
    assert not (only := sorted(set(OPTIONS) - set(DEFAULTS))), f"not in defaults/main.yml: {only}"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_defaults_and_spec_declare_the_same_keys_of_each_group(group):
    assert isinstance(DEFAULTS[group], dict), f"{group} in defaults/main.yml is not a dict: {DEFAULTS[group]!r}"
    assert not (only := sorted(set(DEFAULTS[group]) - set(GROUPS[group]))), f"not in meta/argument_specs.yml: {only}"
    assert not (only := sorted(set(GROUPS[group]) - set(DEFAULTS[group]))), f"not in defaults/main.yml: {only}"


@pytest.mark.parametrize("name", sorted(set(DEFAULTS) | set(OPTIONS)) + KEYS)
def test_variable_is_prefixed(name):
    group, dot, key = name.partition(".")
    assert group.startswith("flask_nginx_")
    if dot:  # a group's key: a short name of its own, without the prefix or the group's name again
        assert re.fullmatch(r"[a-z][a-z0-9_]*", key), name
        assert not key.startswith(("flask_nginx", group.removeprefix("flask_nginx_"))), name


@pytest.mark.parametrize("name", sorted(OPTIONS) + KEYS)
def test_option_is_described(name):
    description = spec_of(name).get("description") or []
    lines = [description] if isinstance(description, str) else description
    assert lines and all(str(line).strip() for line in lines), f"{name} has no description"
    assert spec_of(name).get("type"), f"{name} has no type"


@pytest.mark.parametrize("name", sorted(set(DEFAULTS) & set(OPTIONS)) + KEYS)
def test_spec_default_matches_defaults(name):
    spec, default = spec_default(name), dotted(DEFAULTS, name)
    assert (type(spec), spec) == (type(default), default), f"{name}: argument_specs {spec!r} != defaults {default!r}"
    if name in GROUPS:  # a default of the group's own would have to say the same
        assert OPTIONS[name].get("default") in (None, default), f"{name}: its own default {OPTIONS[name]['default']!r}"


def test_role_checks_and_plans_before_any_change():
    first, second = load_yaml(ROLE / "tasks" / "main.yml")[:2]
    assert first.get("ansible.builtin.import_tasks") == "validate.yml" and "always" in first.get("tags", [])
    assert second.get("ansible.builtin.import_tasks") == "plan.yml" and "always" in second.get("tags", [])


def argspec(name):
    """Ansible's message for a value of the wrong type; a group's key (dotted NAME) is named in its group."""
    group, dot, key = name.partition(".")
    return f"argument '{key}' is of type str found in '{group}'" if dot else f"argument '{name}' is of type"


def choices(name, value=None):
    """Ansible's message for a value outside the choices; a group's key (dotted NAME) is named in its group."""
    group, dot, key = name.partition(".")
    if not dot:
        return f"value of {name} must be one of"
    return f"value of {key} must be one of: {', '.join(map(str, GROUPS[group][key]['choices']))}, got: {value} found in {group}"


def unsupported(name):
    """Ansible's message for a key its group does not have (dotted NAME)."""
    group = name.split(".", 1)[0]
    return f"{name}. Supported parameters include: {', '.join(sorted(GROUPS[group]))}."


def refused(name, value):
    """How tasks/validate.yml names a refused value: the variable, the value as JSON."""
    return f"{name} = {json.dumps(value)} is refused"


# name -> (extra vars, text the output must show: the failed rule or argument).
DNS01 = {"flask_nginx_tls_mode": "acme", "flask_nginx_acme_email": "ops@example.com", "flask_nginx_acme_challenge": "dns-01",
       "flask_nginx_acme_dns_server": "192.0.2.53", "flask_nginx_acme_dns_tsig_key_name": "acme-update.",
       "flask_nginx_acme_dns_tsig_secret": "c2VjcmV0LXNlY3JldA=="}
# A provider's plugin needs none of the TSIG variables.
CLOUDFLARE = {"flask_nginx_tls_mode": "acme", "flask_nginx_acme_email": "ops@example.com", "flask_nginx_acme_challenge": "dns-01",
              "flask_nginx_acme_dns_plugin": "cloudflare", "flask_nginx_acme_dns_credentials": {"api_token": "t0ken-v4lue"}}
BAD = {
    "workers-not-an-int": ({"flask_nginx_gunicorn_workers": "many"}, argspec("flask_nginx_gunicorn_workers")),
    # A plain string passes the spec (a list type splits it for the check) but not the rule.
    "server-names-string": ({"flask_nginx_server_names": "example.com"},
                            refused("flask_nginx_server_names", "example.com")),
    "server-name-punctuation": ({"flask_nginx_server_names": ["bad name!"]}, refused("flask_nginx_server_names", ["bad name!"])),
    "server-name-space": ({"flask_nginx_server_names": ["ex ample.com"]}, refused("flask_nginx_server_names", ["ex ample.com"])),
    "server-name-trailing-newline": ({"flask_nginx_server_names": ["example.com\n"]},
                                     refused("flask_nginx_server_names", ["example.com\n"])),
    "server-names-empty": ({"flask_nginx_server_names": []}, refused("flask_nginx_server_names", [])),
    "app-name-capitals-space": ({"flask_nginx_app_name": "Bad Name"}, refused("flask_nginx_app_name", "Bad Name")),
    "app-name-trailing-newline": ({"flask_nginx_app_name": "shop\n"}, refused("flask_nginx_app_name", "shop\n")),
    "app-name-root": ({"flask_nginx_app_name": "root"}, refused("flask_nginx_app_name", "root")),
    "app-user-www-data": ({"flask_nginx_app_user": "www-data"}, refused("flask_nginx_app_user", "www-data")),
    # The app's group has its user's name: not a privileged group's.
    "app-user-docker": ({"flask_nginx_app_user": "docker"}, refused("flask_nginx_app_user", "docker")),
    "app-user-adm": ({"flask_nginx_app_user": "adm"}, refused("flask_nginx_app_user", "adm")),
    "app-root-tmp": ({"flask_nginx_app_root": "/tmp"}, refused("flask_nginx_app_root", "/tmp")),
    "app-root-root-home": ({"flask_nginx_app_root": "/root/app"}, refused("flask_nginx_app_root", "/root/app")),
    "app-root-usr-share": ({"flask_nginx_app_root": "/usr/share/app"}, refused("flask_nginx_app_root", "/usr/share/app")),
    "worker-class-eventlet": ({"flask_nginx_gunicorn": {"worker_class": "eventlet"}},
                              choices("flask_nginx_gunicorn.worker_class", "eventlet")),
    # A group's keys are checked by Ansible too: a key it does not have, a key of the wrong type, not a dict.
    "timeouts-unknown-key": ({"flask_nginx_timeouts": {"proxy_reed": "60s"}}, unsupported("flask_nginx_timeouts.proxy_reed")),
    "url-prefix-trailing-slash": ({"flask_nginx_url_prefix": "/shop/"}, refused("flask_nginx_url_prefix", "/shop/")),
    "ipv6-maybe": ({"flask_nginx_ipv6": "maybe"}, choices("flask_nginx_ipv6")),
    "gunicorn-timeout-words": ({"flask_nginx_gunicorn": {"timeout": "soon"}}, argspec("flask_nginx_gunicorn.timeout")),
    "gunicorn-not-a-dict": ({"flask_nginx_gunicorn": "fast"}, argspec("flask_nginx_gunicorn")),
    "wsgi-app-without-callable": ({"flask_nginx_wsgi_app": "app"}, refused("flask_nginx_wsgi_app", "app")),
    "wsgi-app-code": ({"flask_nginx_wsgi_app": "app:x.__class__"}, refused("flask_nginx_wsgi_app", "app:x.__class__")),
    "app-env-bad-key": ({"flask_nginx_app_env": {"BAD-KEY": "x"}}, refused("flask_nginx_app_env", ["BAD-KEY"])),
    "app-root-trailing-slash": ({"flask_nginx_app_root": "/opt/app/"}, refused("flask_nginx_app_root", "/opt/app/")),
    "static-url-relative": ({"flask_nginx_static_url": "static/"}, refused("flask_nginx_static_url", "static/")),
    "static-url-dotdot": ({"flask_nginx_static_url": "/static/../"}, refused("flask_nginx_static_url", "/static/../")),
    "static-dir-dot": ({"flask_nginx_static_dir": "."}, refused("flask_nginx_static_dir", ".")),
    "static-dir-escapes": ({"flask_nginx_static_dir": "../etc"}, refused("flask_nginx_static_dir", "../etc")),
    "gunicorn-bind-without-port": ({"flask_nginx_gunicorn": {"bind": "10.0.0.5"}},
                                   refused("flask_nginx_gunicorn.bind", "10.0.0.5")),
    "keepalive-not-above-upstream": ({"flask_nginx_gunicorn": {"keepalive": 60}}, refused("flask_nginx_gunicorn.keepalive", 60)),
    "http-port-70000": ({"flask_nginx_http_port": 70000},
                        "flask_nginx_http_port, flask_nginx_https_port, flask_nginx_gunicorn.port = [70000, 443, 8000] is refused"),
    "workers-negative": ({"flask_nginx_gunicorn_workers": -3}, refused("flask_nginx_gunicorn_workers", -3)),
    "body-size-words": ({"flask_nginx_client_max_body_size": "10 megabytes"},
                        refused("flask_nginx_client_max_body_size", "10 megabytes")),
    "timeout-words": ({"flask_nginx_timeouts": {"proxy_read": "1 minute"}}, '"flask_nginx_timeouts.proxy_read": "1 minute"'),
    "rate-words": ({"flask_nginx_rate_limit": {"rate": "fast"}}, refused("flask_nginx_rate_limit.rate", "fast")),
    "firewall-port-0": ({"flask_nginx_firewall": {"allow_tcp": [0]}}, refused("flask_nginx_firewall.allow_tcp", [0])),
    "acme-without-email": ({"flask_nginx_tls_mode": "acme"}, refused("flask_nginx_acme_email", "")),
    "acme-wildcard": ({"flask_nginx_tls_mode": "acme", "flask_nginx_acme_email": "ops@example.com",
                       "flask_nginx_server_names": ["*.example.com"]}, refused("flask_nginx_server_names", ["*.example.com"])),
    "no-app-src": ({"flask_nginx_app_src": ""}, refused("flask_nginx_app_src", "")),
    "app-src-missing": ({"flask_nginx_app_src": "/nonexistent"},
                        'flask_nginx_app_src = "/nonexistent" is refused: it must be a directory on the controller'),
    # Without its own rule a bare word would become `server_name l o c a l h o s t;`.
    "server-names-bare-word": ({"flask_nginx_server_names": "localhost"}, refused("flask_nginx_server_names", "localhost")),
    "acme-retries-11": ({"flask_nginx_acme_retries": 11}, refused("flask_nginx_acme_retries", 11)),
    "acme-retry-delay-0": ({"flask_nginx_acme_retry_delay": 0}, refused("flask_nginx_acme_retry_delay", 0)),
    "acme-profile-space": ({"flask_nginx_acme_profile": "short lived"}, refused("flask_nginx_acme_profile", "short lived")),
    "trusted-proxies-string": ({"flask_nginx_trusted_proxies": "10.0.0.0/8"},
                               refused("flask_nginx_trusted_proxies", "10.0.0.0/8")),
    "trusted-proxies-bad-cidr": ({"flask_nginx_trusted_proxies": ["10.0.0.0/33"]},
                                 refused("flask_nginx_trusted_proxies", ["10.0.0.0/33"])),
    "trusted-proxies-everyone": ({"flask_nginx_trusted_proxies": ["0.0.0.0/0"]},
                                 refused("flask_nginx_trusted_proxies", ["0.0.0.0/0"])),
    "trusted-proxies-hostname": ({"flask_nginx_trusted_proxies": ["proxy.example.com"]},
                                 refused("flask_nginx_trusted_proxies", ["proxy.example.com"])),
    "canonical-host-not-a-server-name": ({"flask_nginx_canonical_host": "other.example.com"},
                                         refused("flask_nginx_canonical_host", "other.example.com")),
    "dns01-without-server": (DNS01 | {"flask_nginx_acme_dns_server": ""}, refused("flask_nginx_acme_dns_server", "")),
    "dns01-server-by-name": (DNS01 | {"flask_nginx_acme_dns_server": "ns1.example.com"},
                             refused("flask_nginx_acme_dns_server", "ns1.example.com")),
    "dns01-without-key-name": (DNS01 | {"flask_nginx_acme_dns_tsig_key_name": ""}, refused("flask_nginx_acme_dns_tsig_key_name", "")),
    # The secret is refused without being shown (test_argument_specs checks it is not in the output).
    "dns01-secret-not-base64": (DNS01 | {"flask_nginx_acme_dns_tsig_secret": "not base64!"},
                                'flask_nginx_acme_dns_tsig_secret = "(hidden, 11 characters)" is refused'),
    "dns01-propagation-too-long": (DNS01 | {"flask_nginx_acme_dns_propagation_seconds": 3601},
                                   refused("flask_nginx_acme_dns_propagation_seconds", 3601)),
    # A provider's plugin: its credentials by key; a refusal names the keys, never a value.
    "dns-plugin-unknown": (CLOUDFLARE | {"flask_nginx_acme_dns_plugin": "route53"},
                           choices("flask_nginx_acme_dns_plugin", "route53")),
    "dns-credentials-missing": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {}},
                                refused("flask_nginx_acme_dns_credentials", [])),
    # A key that is not the plugin's is counted, not shown (a token pasted as a key stays hidden).
    "dns-credentials-prefixed": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"dns_cloudflare_api_token": "t0ken-v4lue"}},
                                 refused("flask_nginx_acme_dns_credentials", ["(1 other key)"])),
    "dns-credentials-secret-as-key": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": "x", "t0ken-v4lue": "y",
                                                                                        "other": "z"}},
                                      refused("flask_nginx_acme_dns_credentials", ["api_token", "(2 other keys)"])),
    # What certbot's INI reader would cut or change: a comment sign, a list comma, quotes, spaces.
    "dns-credentials-hash": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": "t0ken-v4lue#x"}},
                             refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-credentials-comma": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": "t0ken,v4lue"}},
                              refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-credentials-quotes": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": "'t0ken-v4lue'"}},
                               refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-credentials-space": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": " t0ken-v4lue"}},
                              refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-credentials-empty": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": ""}},
                              refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-credentials-bool": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": True}},
                             refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-credentials-int": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": 123}},
                            refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-linode-version-banana": (CLOUDFLARE | {"flask_nginx_acme_dns_plugin": "linode",
                                                "flask_nginx_acme_dns_credentials": {"key": "k3y", "version": "banana"}},
                                  refused("flask_nginx_acme_dns_credentials", ["key", "version"])),
    "dns-credentials-two-ways": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": "t0ken-v4lue", "email": "a@b.c"}},
                                 refused("flask_nginx_acme_dns_credentials", ["api_token", "email"])),
    "dns-credentials-half-a-set": (CLOUDFLARE | {"flask_nginx_acme_dns_plugin": "ovh",
                                                 "flask_nginx_acme_dns_credentials": {"endpoint": "ovh-eu"}},
                                   refused("flask_nginx_acme_dns_credentials", ["endpoint"])),
    "dns-credentials-newline": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"api_token": "t0ken-v4lue\ndns_x = y"}},
                                refused("flask_nginx_acme_dns_credentials", ["api_token"])),
    "dns-credentials-with-rfc2136": (DNS01 | {"flask_nginx_acme_dns_credentials": {"token": "t0ken-v4lue"}},
                                     refused("flask_nginx_acme_dns_credentials", ["(1 other key)"])),
    "dns-credentials-not-a-dict": (CLOUDFLARE | {"flask_nginx_acme_dns_credentials": "t0ken-v4lue"},
                                   argspec("flask_nginx_acme_dns_credentials")),
    "issuer-not-a-load-balancer": ({"flask_nginx_acme_issuer": "elsewhere"}, refused("flask_nginx_acme_issuer", "elsewhere")),
    "access-log-format-xml": ({"flask_nginx_logs": {"format": "xml"}}, choices("flask_nginx_logs.format", "xml")),
    "log-keep-0": ({"flask_nginx_logs": {"keep": 0}}, refused("flask_nginx_logs.keep", 0)),
    "log-max-size-words": ({"flask_nginx_logs": {"max_size": "big"}}, refused("flask_nginx_logs.max_size", "big")),
    "metrics-listen-without-port": ({"flask_nginx_metrics_listen": "127.0.0.1"},
                                    refused("flask_nginx_metrics_listen", "127.0.0.1")),
    "statsd-host-port-0": ({"flask_nginx_gunicorn": {"statsd_host": "127.0.0.1:0"}},
                           refused("flask_nginx_gunicorn.statsd_host", "127.0.0.1:0")),
    # The micro-cache: path prefixes go into a map's regular expression, inside quotes.
    "cache-paths-string": ({"flask_nginx_cache_paths": "/blog/"}, refused("flask_nginx_cache_paths", "/blog/")),
    "cache-path-relative": ({"flask_nginx_cache_paths": ["blog/"]}, refused("flask_nginx_cache_paths", ["blog/"])),
    "cache-path-space": ({"flask_nginx_cache_paths": ["/a b"]}, refused("flask_nginx_cache_paths", ["/a b"])),
    "cache-path-quote": ({"flask_nginx_cache_paths": ['/a"b']}, refused("flask_nginx_cache_paths", ['/a"b'])),
    "cache-path-brace": ({"flask_nginx_cache_paths": ["/a{1}"]}, refused("flask_nginx_cache_paths", ["/a{1}"])),
    "cache-path-semicolon": ({"flask_nginx_cache_paths": ["/a;b"]}, refused("flask_nginx_cache_paths", ["/a;b"])),
    "cache-path-trailing-newline": ({"flask_nginx_cache_paths": ["/a\n"]}, refused("flask_nginx_cache_paths", ["/a\n"])),
    "cache-seconds-negative": ({"flask_nginx_cache_seconds": -1}, refused("flask_nginx_cache_seconds", -1)),
    "cache-seconds-not-an-int": ({"flask_nginx_cache_seconds": "soon"}, argspec("flask_nginx_cache_seconds")),
    "cache-stale-seconds-negative": ({"flask_nginx_cache_stale_seconds": -600},
                                     refused("flask_nginx_cache_stale_seconds", -600)),
    "cache-max-size-words": ({"flask_nginx_cache_max_size": "100 MB"}, refused("flask_nginx_cache_max_size", "100 MB")),
    "cache-max-size-0": ({"flask_nginx_cache_max_size": "0"}, refused("flask_nginx_cache_max_size", "0")),
    "cache-max-size-terabytes": ({"flask_nginx_cache_max_size": "1t"}, refused("flask_nginx_cache_max_size", "1t")),
}
GOOD = {
    "defaults": {},
    "valid-non-defaults": {
        "flask_nginx_app_name": "my-app",
        "flask_nginx_server_names": ["Example.com", "*.example.org", "127.0.0.1", "localhost"],
        "flask_nginx_wsgi_app": "app:create_app('production', debug=False)",
        "flask_nginx_app_env": {"SECRET_KEY": "s3cret", "_X": "1"},
        "flask_nginx_gunicorn": {"bind": "10.0.0.5:8000", "worker_class": "sync", "keepalive": 90,
                                 "statsd_host": "statsd.internal:8125"},
        "flask_nginx_ipv6": "never",
        "flask_nginx_app_root": "/srv/my-app",
        "flask_nginx_static_dir": "web/static",
        "flask_nginx_client_max_body_size": "100M",
        "flask_nginx_timeouts": {"proxy_read": "1m30s"},
        "flask_nginx_rate_limit": {"rate": "600r/m"},
        "flask_nginx_acme_retries": 0,
        "flask_nginx_acme_retry_delay": 30,
        "flask_nginx_acme_profile": "shortlived",
        "flask_nginx_trusted_proxies": ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1"],
        "flask_nginx_canonical_host": "EXAMPLE.com",
        "flask_nginx_logs": {"format": "combined", "keep": 30, "max_size": "100M"},
        "flask_nginx_metrics": True,
        "flask_nginx_metrics_listen": "10.0.0.5:9113",
        "flask_nginx_cache_paths": ["/", "/blog/", "/api/v1.0/~user(1)", "/a-b_c+d*$"],
        "flask_nginx_cache_seconds": 0,
        "flask_nginx_cache_stale_seconds": 0,
        "flask_nginx_cache_max_size": "2G",
    },
    # `-e '{"flask_nginx_gunicorn": {"keepalive": "90"}}'` gives a string; the spec accepts it
    # as an int and the role must cast it where it compares.
    "int-given-as-string": {"flask_nginx_gunicorn": {"keepalive": "90"}},
    # dns-01 allows wildcard names.
    "dns01-wildcard": DNS01 | {"flask_nginx_server_names": ["example.com", "*.example.com"]},
    "dns-cloudflare-token": CLOUDFLARE | {"flask_nginx_server_names": ["example.com", "*.example.com"]},
    "dns-cloudflare-global-key": CLOUDFLARE | {"flask_nginx_acme_dns_credentials": {"email": "ops@example.com", "api_key": "k3y"}},
    "dns-linode-with-version": CLOUDFLARE | {"flask_nginx_acme_dns_plugin": "linode",
                                             "flask_nginx_acme_dns_credentials": {"key": "k3y", "version": 4}},
    "dns-ovh": CLOUDFLARE | {"flask_nginx_acme_dns_plugin": "ovh",
                             "flask_nginx_acme_dns_credentials": {"endpoint": "ovh-eu", "application_key": "Ab12",
                                                                  "application_secret": "s3cr/t+=", "consumer_key": "c0n:s@mer.k~"}},
    # Credentials left in the inventory do not matter with http-01.
    "dns-credentials-with-http01": {"flask_nginx_acme_dns_plugin": "cloudflare", "flask_nginx_acme_dns_credentials": {"x": "y"}},
}


# The argument spec's own checks are Ansible's: those cases run in one ansible-playbook
# (tests/validate.yml, one made-up host per case), with a few rule cases to show that the
# plan plugin stops the play before any change and never shows a secret. Every other
# case calls the plugin's rule table directly (milliseconds each).
SPEC_CASES = [name for name, (_, text) in BAD.items()
              if text.startswith(("argument '", "value of ")) or ". Supported parameters include: " in text]
REAL_CASES = SPEC_CASES + ["app-name-root", "dns01-secret-not-base64", "dns-credentials-newline", "app-src-missing", "defaults", "int-given-as-string"]
PLAN = plan_module()


def case_values(name):
    return {"flask_nginx_app_src": SAMPLE_APP} | (BAD[name][0] if name in BAD else GOOD[name])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run tests/validate.yml once for all REAL_CASES, a host each; return name -> (rc, output)."""
    inventory = {"all": {"hosts": {name: case_values(name) for name in REAL_CASES}}}
    work = tmp_path_factory.mktemp("validate")
    markers = work / "changed"
    markers.mkdir()
    result = ansible_playbook("validate.yml", {"marker_dir": str(markers)}, work, inventory=inventory)
    return {name: host_output(result.stdout + result.stderr, name) + ((markers / name).exists(),) for name in REAL_CASES}


def host_output(output, host):
    """(1 if HOST failed else 0, the lines of the output about HOST and its recap line)."""
    blocks = re.split(r"(?m)^(?=(?:ok|changed|fatal|failed|skipping|included): \[|TASK \[|PLAY RECAP)", output)
    mine = [block for block in blocks if re.match(rf"(ok|changed|fatal|failed|skipping): \[{re.escape(host)}\]", block)]
    recap = re.search(rf"(?m)^{re.escape(host)}\s+:.*$", output)
    text = "".join(mine) + (recap.group(0) if recap else "")
    return (1 if recap is None or "failed=0" not in recap.group(0) else 0), text


def refused_directly(name):
    """The plan plugin's rule table on the case's values (as the play sees them): its messages."""
    values = role_values(**case_values(name))
    _, refused = PLAN.make_plan(values, OPTIONS, role_context(values, host="localhost"), "rules")
    return refused


@pytest.mark.parametrize("case", list(GOOD))
def test_good_values_pass(case):
    assert refused_directly(case) == []


@pytest.mark.parametrize("case", [name for name in REAL_CASES if name in GOOD])
def test_good_values_pass_the_spec_and_the_role(runs, case):
    rc, output, changed = runs[case]
    assert rc == 0, output
    assert changed, output  # the play went on to its first change


@pytest.mark.parametrize("case", [name for name in BAD if name not in SPEC_CASES])
def test_bad_value_is_rejected(case):
    refused = refused_directly(case)
    assert refused, f"accepted: {BAD[case][0]}"
    message = " | ".join(refused)
    assert BAD[case][1] in message, f"rejected, but without {BAD[case][1]!r}:\n{message}"
    assert "not base64!" not in message and "t0ken-v4lue" not in message  # a refused secret is never shown


@pytest.mark.parametrize("case", [name for name in REAL_CASES if name in BAD])
def test_bad_value_stops_the_play_before_any_change(runs, case):
    """tests/validate.yml makes a change after the checks: a refused host never makes it."""
    rc, output, changed = runs[case]
    assert rc != 0, f"accepted:\n{output}"
    assert not changed, output
    # The YAML callback folds long messages: compare with the line breaks as spaces.
    assert " ".join(BAD[case][1].split()) in " ".join(output.split()), f"rejected, but without {BAD[case][1]!r}:\n{output}"
    assert "changed=0" in output, output
    assert "not base64!" not in output and "t0ken-v4lue" not in output  # a refused secret is never shown
