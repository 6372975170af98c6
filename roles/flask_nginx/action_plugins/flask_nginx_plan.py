# -*- coding: utf-8 -*-
"""The role's plan: every decision about a host, made once, in Python, on the controller.

The action `flask_nginx_plan` reads the role's variables as the play sees them, the
inventory (groups, hostvars), the facts and what the host probe found, and returns
ONE dictionary, set as the fact `__flask_nginx_plan`. It changes nothing anywhere
(safe in check mode). Tasks and templates read the plan.

It works in stages, each of which recomputes the whole plan from what is known by
then (`stage` argument):
  rules  (tasks/validate.yml)  every typed variable coerced by its argument spec
                               (`-e flask_nginx_maintenance=false` is False), and
                               every rule of RULES checked: a refused value fails
                               the task before any change on the host.
  fleet  (tasks/plan.yml)      + what the host runs, its peers, names, TLS, units,
                               packages: what the probe must look at.
  host   (tasks/plan.yml)      + where Gunicorn listens, the upstream, the Nginx
                               files, the HTTPS names, the health check (needs the
                               probe, the certificate on disk and the fleet's
                               addresses) and the checks that need them.

The functions below take plain dicts and lists, so the fast tests call them directly
(tests/test_plan_rules.py): `coerce`, `refusals`, `make_plan`.
"""
from __future__ import annotations

import base64
import copy
import ipaddress
import json
import os
import re

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE
from ansible.plugins.action import ActionBase

# ---------------------------------------------------------------------------
# Coercion by the argument spec
# ---------------------------------------------------------------------------


def _to_bool(value):
    if isinstance(value, bool):
        return value
    key = value.lower().strip() if isinstance(value, str) else value
    if key in BOOLEANS_TRUE:
        return True
    if key in BOOLEANS_FALSE:
        return False
    raise ValueError(value)


def _to_int(value):
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]+\s*", value):
        return int(value)
    raise ValueError(value)


def _to_float(value):
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise ValueError(value)


_CONVERT = {"bool": _to_bool, "int": _to_int, "float": _to_float}


def _coerce_one(value, option):
    """VALUE converted to OPTION's type (and its elements' and suboptions' types).
    A value that does not convert stays as it is: the argument spec refuses it
    (and the rules name it)."""
    kind = option.get("type", "str")
    try:
        if kind in _CONVERT:
            return _CONVERT[kind](value)
    except (ValueError, TypeError, AttributeError):
        return value
    # A list is never made from a string here: `flask_nginx_server_names: example.com`
    # is refused by its rule rather than split into letters or at commas.
    if kind == "list" and isinstance(value, list):
        elements = option.get("elements")
        if elements == "dict" and option.get("options"):
            return [_coerce_suboptions(item, option["options"]) if isinstance(item, dict) else item for item in value]
        if elements in _CONVERT:
            return [_coerce_one(item, {"type": elements}) for item in value]
    if kind == "dict" and isinstance(value, dict) and option.get("options"):
        return _coerce_suboptions(value, option["options"])
    return value


def _coerce_suboptions(item, options):
    return {key: (_coerce_one(value, options[key]) if key in options else value) for key, value in item.items()}


def groups(options):
    """The grouped options (a dict with keys of its own, e.g. flask_nginx_timeouts): name -> its keys' specs."""
    return {name: option["options"] for name, option in options.items()
            if option.get("type") == "dict" and option.get("options")}


def merged(value, keys):
    """A grouped option's VALUE (the keys a user set) over its KEYS' defaults: a partial dict is
    what users write (`flask_nginx_timeouts: {proxy_read: 120s}`), and Ansible replaces a whole
    dict, so the plan fills in the rest. Unknown keys stay, for the rules to refuse."""
    given = value if isinstance(value, dict) else {}
    return {**{key: spec.get("default") for key, spec in keys.items()}, **given}


class Values(dict):
    """The coerced variables, by name; a grouped option's key also by its dotted name
    (v["flask_nginx_timeouts.proxy_read"]), as the rules and their messages name it."""

    def __getitem__(self, name):
        if "." in name and not super().__contains__(name):
            group, key = name.split(".", 1)
            return super().__getitem__(group)[key]
        return super().__getitem__(name)

    def __contains__(self, name):
        if "." in name:
            group, key = name.split(".", 1)
            return isinstance(self.get(group), dict) and key in self.get(group)
        return super().__contains__(name)


def coerce(values, options):
    """The role's VALUES with every option typed by its spec OPTIONS, once; each grouped
    option complete (its defaults under the keys set); an option of another entry point
    that the play does not set (flask_nginx_canary_seconds outside deploy.yml) at its
    spec's default, so that the rules read every option by name, with one default."""
    out = {name: (_coerce_one(value, options[name]) if name in options else value) for name, value in values.items()}
    for name, option in options.items():
        if name not in out and "default" in option:
            out[name] = copy.deepcopy(option["default"])
    for name, keys in groups(options).items():
        if name in out:
            out[name] = _coerce_suboptions(merged(out[name], keys), keys)
    return Values(out)


_KIND = {"bool": (bool, "true or false"), "int": (int, "a whole number"), "float": (float, "a number")}


def type_refusals(values, coerced, options):
    """The typed options whose value did not convert. The role's main entry point has
    Ansible's argument spec check them first; the other entry points (rollback, status,
    rotation) read the same variables through the plan, which checks them here."""
    out = []
    for name, option in options.items():
        kind = _KIND.get(option.get("type"))
        if kind and name in coerced and (not isinstance(coerced[name], kind[0]) or
                                         (kind[0] is int and isinstance(coerced[name], bool))):
            out.append(f"{name} = {json.dumps(values[name], default=str)} is refused: {kind[1]} "
                       f"(its type in meta/argument_specs.yml is {option['type']})")
    for name, keys in groups(options).items():
        if name not in values:
            continue
        given = values[name]
        if given is None:
            continue
        if not isinstance(given, dict):
            out.append(f"{name} = {json.dumps(given, default=str)} is refused: a dict of the keys to change "
                       f"({', '.join(keys)})")
            continue
        for key in sorted(set(given) - set(keys)):
            out.append(f"{name}.{key} = {json.dumps(given[key], default=str)} is refused: not a key of {name} "
                       f"(its keys: {', '.join(keys)})")
        out += type_refusals({f"{name}.{k}": given[k] for k in given if k in keys},
                             {f"{name}.{k}": coerced[name][k] for k in given if k in keys},
                             {f"{name}.{k}": keys[k] for k in given if k in keys})
    return out


def typed_options(options):
    """Names of the options whose value must be coerced (bool, int, float, or lists of them)."""
    return sorted(name for name, option in options.items()
                  if option.get("type") in _CONVERT or (option.get("type") == "dict" and option.get("options"))
                  or (option.get("type") == "list" and (option.get("elements") in _CONVERT or option.get("options"))))


# ---------------------------------------------------------------------------
# The rules (what tasks/validate.yml checked in one assert)
# ---------------------------------------------------------------------------


def jinja_int(value, default=0):
    """Jinja's `int` filter: a number, else DEFAULT (the old rules compared with it)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (ValueError, TypeError):
        try:
            return int(float(str(value).strip()))
        except (ValueError, TypeError):
            return default


def _match(pattern, value):
    return isinstance(value, str) and re.match(pattern, value) is not None


def _port_ok(bind):
    return jinja_int(bind.rsplit(":", 1)[1]) in range(1, 65536)


def _bind_ok(p, bind):
    return _match(p["bind"], bind) and _port_ok(bind)


def _network(c, text, strict=False):
    """TEXT as an IP network ("10.0.0.0/8", "2001:db8::/32", or one address), else None."""
    if not _match(c["p"]["ip_chars"], text):
        return None
    try:
        return ipaddress.ip_network(text, strict=strict)
    except ValueError:
        return None


def _ip(c, text):
    """TEXT as one IP address (an IPv6 address in brackets or not), else None."""
    found = _network(c, text[1:-1] if isinstance(text, str) and text.startswith("[") and text.endswith("]") else text)
    return found.network_address if found is not None and found.num_addresses == 1 and "/" not in text else None


def _private_host(c, host):
    """HOST (of ADDRESS:PORT) is localhost or an address of a network that never routes on the Internet."""
    address = _ip(c, host)
    return host == "localhost" or (address is not None and any(
        address.version == net.version and address in net for net in map(ipaddress.ip_network, c["__flask_nginx_private_networks"])))


def _inside(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _one_line(text):
    """No line break or other control character (a tab is allowed)."""
    return isinstance(text, str) and not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", text)


def _names(v):
    names = v["flask_nginx_server_names"]
    return names if not isinstance(names, str) else []


def _acme_server(v, c):
    if v["flask_nginx_acme_directory"]:
        return v["flask_nginx_acme_directory"]
    return c["__flask_nginx_acme_letsencrypt_staging"] if v["flask_nginx_acme_staging"] else c["__flask_nginx_acme_letsencrypt"]


DURATIONS = ("flask_nginx_upstream.fail_timeout", "flask_nginx_upstream.idle_timeout", "flask_nginx_timeouts.proxy_connect",
             "flask_nginx_timeouts.proxy_read", "flask_nginx_timeouts.proxy_send", "flask_nginx_timeouts.proxy_next_upstream",
             "flask_nginx_timeouts.client_header", "flask_nginx_timeouts.client_body", "flask_nginx_timeouts.send",
             "flask_nginx_timeouts.keepalive")
COUNTS = ("flask_nginx_gunicorn.max_requests", "flask_nginx_upstream.max_fails", "flask_nginx_upstream.idle_connections",
          "flask_nginx_rate_limit.burst", "flask_nginx_rate_limit.connections", "flask_nginx_fleet.drain_seconds", "flask_nginx_hsts.max_age")
PORTS = ("flask_nginx_http_port", "flask_nginx_https_port", "flask_nginx_gunicorn.port")
SECONDS = ("flask_nginx_gunicorn.timeout", "flask_nginx_gunicorn.graceful_timeout", "flask_nginx_gunicorn.keepalive")


_CANARY_COUNTS = ("flask_nginx_canary_hosts", "flask_nginx_canary_seconds", "flask_nginx_canary_min_requests",
                  "flask_nginx_canary_max_p99_ms")


class Rule:
    """One rule: the variable(s) it names, the value it shows (as JSON), a test, what is allowed.
    VALUE, OK and ALLOWED are functions of (v: the coerced variables, c: the context)."""

    def __init__(self, var, ok, allowed, value=None):
        self.var, self.ok, self.allowed = var, ok, allowed
        self.value = value or (lambda v, c, _var=var: v[_var])

    def refusal(self, v, c):
        """None when the rule holds, else the message that names the variable."""
        if self.ok(v, c):
            return None
        allowed = self.allowed(v, c) if callable(self.allowed) else self.allowed
        return f"{self.var} = {json.dumps(self.value(v, c))} is refused: {allowed}"


def _not_reserved(v, c, name, *tables):
    return (v[name] not in [*[x for t in tables for x in c[t]], c["ssh_user"]]
            # systemd's own accounts, and Debian's convention for system accounts (_apt, _chrony).
            and not str(v[name]).startswith(("systemd-", "_")))


def _range(name, low, high=None):
    return lambda v, c: jinja_int(v[name]) >= low and (high is None or jinja_int(v[name]) <= high)


def _acme(v):
    return v["flask_nginx_tls_mode"] == "acme"


def _dns01(v):
    return _acme(v) and v["flask_nginx_acme_challenge"] == "dns-01"


def _rfc2136(v):
    return _dns01(v) and v["flask_nginx_acme_dns_plugin"] == "rfc2136"


# certbot's DNS plugins (Debian's python3-certbot-dns-NAME) that read an INI file of
# `dns_NAME_KEY = value` lines: the sets of keys that authenticate (exactly one set, whole),
# the keys each also takes, and the values a key allows when it is not a secret.
# rfc2136 is written from the TSIG variables instead.
DNS_PLUGINS = {
    "rfc2136": {"auth": [], "optional": {}},
    "cloudflare": {"auth": [["api_token"], ["email", "api_key"]], "optional": {}},
    "digitalocean": {"auth": [["token"]], "optional": {}},
    "dnsimple": {"auth": [["token"]], "optional": {}},
    "gehirn": {"auth": [["api_token", "api_secret"]], "optional": {}},
    "linode": {"auth": [["key"]], "optional": {"version": ["3", "4"]}},
    "ovh": {"auth": [["endpoint", "application_key", "application_secret", "consumer_key"]], "optional": {}},
    "sakuracloud": {"auth": [["api_token", "api_secret"]], "optional": {}},
}
# A credential as certbot's INI reader (configobj) takes it literally: no comment sign,
# list comma, quote, backslash or space, nothing it would cut or change.
DNS_CREDENTIAL = re.compile(r"[A-Za-z0-9._~+/=:@-]+")


def _dns_plugin(v):
    plugin = v["flask_nginx_acme_dns_plugin"]
    return plugin if isinstance(plugin, str) and plugin in DNS_PLUGINS else None


def _dns_credentials_ok(v):
    """The credentials fit the plugin: {} for rfc2136 (the TSIG variables carry its key);
    else one of its sets of keys whole, plus keys it also takes, each value a string that
    certbot reads as written (a key with a choice of values: one of them)."""
    creds, plugin = v["flask_nginx_acme_dns_credentials"], _dns_plugin(v)
    if not isinstance(creds, dict):
        return False
    if not _dns01(v) or plugin is None:
        return True
    if plugin == "rfc2136":
        return not creds
    spec, keys = DNS_PLUGINS[plugin], set(map(str, creds))
    if not any(set(auth) <= keys and keys - set(auth) <= set(spec["optional"]) for auth in spec["auth"]):
        return False
    for key, value in creds.items():
        choices = spec["optional"].get(str(key))
        if choices is not None:
            if isinstance(value, bool) or str(value) not in choices:
                return False
        elif not isinstance(value, str) or not DNS_CREDENTIAL.fullmatch(value):
            return False
    return True


def _dns_credentials_allowed(v, c):
    plugin = _dns_plugin(v)
    if plugin == "rfc2136":
        return "{} with flask_nginx_acme_dns_plugin=rfc2136 (its key is in flask_nginx_acme_dns_tsig_*)"
    spec = DNS_PLUGINS.get(plugin or "", {"auth": [], "optional": {}})
    sets = " or ".join(" and ".join(auth) for auth in spec["auth"])
    also = "".join(f"; also {key}: {' or '.join(choices)}" for key, choices in spec["optional"].items())
    return (f"with flask_nginx_acme_dns_plugin={plugin}, the plugin's credentials by key without the "
            f"dns_{plugin}_ prefix: {sets}{also}; each value a string of letters, digits and . _ ~ + / = : @ - "
            "(from Ansible Vault)")


def _dns_credentials_shown(v, c):
    """The keys given, never a value: the plugin's own key names, and how many others (a
    secret pasted as a key is not shown either)."""
    creds = v["flask_nginx_acme_dns_credentials"]
    if not isinstance(creds, dict):
        return "(not a dict)"
    spec = DNS_PLUGINS.get(_dns_plugin(v) or "", {"auth": [], "optional": {}})
    known = {k for auth in spec["auth"] for k in auth} | set(spec["optional"])
    shown = sorted(str(k) for k in creds if str(k) in known)
    others = len(creds) - len(shown)
    return shown + ([f"({others} other key{'s' if others > 1 else ''})"] if others else [])


def _units_ok(p, items, one_line):
    names = [str(item.get("name", "")) for item in items]
    return (all(_match(p["unit_name"], name) for name in names) and len(set(names)) == len(names) and one_line(items))


# systemd.time(7) calendar events: a shorthand, or [WEEKDAYS] [DATE] [TIME] [TIMEZONE]
# with at least one of the first three (e.g. "Mon..Fri *-*-* 03:00:00", "*:0/15",
# "Sat,Sun 10:00 Europe/Berlin").
_CALENDAR_SHORTHANDS = ("minutely", "hourly", "daily", "weekly", "monthly", "quarterly", "semiannually", "yearly", "annually")
_WEEKDAY = r"(mon(day)?|tue(sday)?|wed(nesday)?|thu(rsday)?|fri(day)?|sat(urday)?|sun(day)?)"
_CALENDAR_PARTS = (rf"(?i:{_WEEKDAY}((,|\.\.){_WEEKDAY})*)",       # weekdays
                   r"[0-9*][0-9*,./]*[-~][0-9*][0-9*,./]*([-~][0-9*][0-9*,./]*)?",  # date
                   r"[0-9*][0-9*,./]*:[0-9*][0-9*,./]*(:[0-9*][0-9*,./]*)?")      # time
_TIMEZONE = r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*"


def calendar_ok(text):
    """TEXT is a systemd calendar event of the form above, on one line of printable ASCII."""
    if not isinstance(text, str) or not re.fullmatch(r"[ -~]{1,256}", text):
        return False
    tokens = text.split()
    if len(tokens) == 1 and tokens[0].lower() in _CALENDAR_SHORTHANDS:
        return True
    used = 0
    for part in _CALENDAR_PARTS:
        if used < len(tokens) and re.fullmatch(part, tokens[used]):
            used += 1
    if used and used < len(tokens) and re.fullmatch(_TIMEZONE, tokens[used]):
        used += 1
    return used > 0 and used == len(tokens)


def _writable_dir_ok(v, c, path):
    root, webroot = v["flask_nginx_app_root"], v["flask_nginx_acme_webroot"]
    return (_match(c["p"]["safe_path"], path) and path.count("/") >= 2
            and not _match(c["__flask_nginx_system_dirs"], path)
            # Never the app's own code, virtualenvs and links, nor a directory above them.
            and not _inside(root, path) and not any(_inside(path, f"{root}/{d}") for d in ("releases", "current", "gunicorn", "repo"))
            # Nor the ACME webroot (the app would answer every site's challenges).
            and not _inside(path, webroot) and not _inside(webroot, path))


def _headers_ok(c, headers):
    return isinstance(headers, dict) and all(
        _match(c["p"]["header_name"], name)
        and (value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)
                               and _match(c["p"]["header_value"], str(value))))
        for name, value in headers.items())


def _proxy_ok(c, text):
    """A trusted proxy: an address or a network no wider than /8 (IPv4) or /16 (IPv6), or a
    private network (fc00::/7): a wider one trusts much of the Internet's X-Forwarded-For."""
    net = _network(c, text)
    private = [ipaddress.ip_network(n) for n in c["__flask_nginx_private_networks"]]
    return net is not None and (net.prefixlen >= (8 if net.version == 4 else 16)
                                or any(net.version == p.version and net.subnet_of(p) for p in private))


def _allow_from_ok(c, items):
    """IPv4 addresses or networks (nftables' `ip saddr` set): valid, not /0, not overlapping."""
    nets = [_network(c, str(item), strict=True) for item in items]
    return (all(net is not None and net.version == 4 and net.prefixlen > 0 for net in nets)
            and not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:]))


def _app_address_ok(c, text):
    """Empty, an IPv4 address, or an IPv6 address in brackets ([fd00::5]): systemd's ListenStream=
    and Nginx's upstream take it with ':PORT' after it, and neither takes a host name."""
    address = _ip(c, text)
    return text == "" or (address is not None and (address.version == 4) != text.startswith("["))


def app_packaging(v):
    """The files that tell how the app is packaged, in the order flask_nginx_app_install
    `auto` tries them: [(choice, file the choice needs), ...]. uv_lock needs pyproject.toml too."""
    requirements = v["flask_nginx_app_requirements_file"]
    return ([("uv_lock", "uv.lock")] + ([("requirements", requirements)] if requirements else [])
            + [("project", "pyproject.toml")])


def app_install(v, exists=None):
    """flask_nginx_app_install as decided: the choice made, or for `auto` the first of
    app_packaging() whose file EXISTS (relative path -> bool; a local app's own files if not
    given), else `none`. A git app's `auto` stays `auto` here: its files are known after the
    checkout, where tasks/app_venv.yml makes the same choice."""
    choice = v["flask_nginx_app_install"]
    if choice != "auto":
        return choice
    if exists is None:
        if v["flask_nginx_app_git_repo"]:
            return "auto"
        src = v["flask_nginx_app_src"]
        exists = lambda path: os.path.isfile(os.path.join(src, path))  # noqa: E731
    found = [name for name, path in app_packaging(v) if exists(path)]
    found = [name for name in found if name != "uv_lock" or exists("pyproject.toml")]
    return found[0] if found else "none"


def _app_install_fits(v):
    """A local app has the file its chosen way of installing needs."""
    choice, src = v["flask_nginx_app_install"], v["flask_nginx_app_src"]
    if choice in ("auto", "none") or v["flask_nginx_app_git_repo"] or not os.path.isdir(src):
        return choice != "requirements" or v["flask_nginx_app_requirements_file"] != ""
    needs = {"uv_lock": ["uv.lock", "pyproject.toml"], "project": ["pyproject.toml"],
             "requirements": [v["flask_nginx_app_requirements_file"]]}[choice]
    return all(path and os.path.isfile(os.path.join(src, path)) for path in needs)


def _wsgi_module_found(v):
    src = v["flask_nginx_app_src"]
    module = v["flask_nginx_wsgi_app"].split(":")[0].replace(".", "/")
    return os.path.isdir(src) and (os.path.isfile(f"{src}/{module}.py") or os.path.isfile(f"{src}/{module}/__init__.py"))


RULES = [
    Rule("flask_nginx_app_name",
         lambda v, c: _match(c["p"]["app_name"], v["flask_nginx_app_name"])
         and _not_reserved(v, c, "flask_nginx_app_name", "__flask_nginx_reserved_accounts", "__flask_nginx_reserved_names"),
         "lower case letters, digits, '_' and '-', starting with a letter, at most 32 characters; not a system account, the "
         "connection's user or the name of a system directory (dpkg, apt, systemd, letsencrypt, flask-nginx, ...: "
         "/var/lib/NAME becomes the app's)"),
    Rule("flask_nginx_app_user",
         lambda v, c: _match(c["p"]["account"], v["flask_nginx_app_user"])
         and _not_reserved(v, c, "flask_nginx_app_user", "__flask_nginx_reserved_accounts", "__flask_nginx_reserved_groups"),
         "a new system account name (lower case, at most 32 characters); not root, www-data, postgres, another system "
         "account (systemd-*, _*) or the connection's user, nor a privileged or shared group's name (adm, sudo, docker, "
         "...: the app's group has the account's name)"),
    Rule("flask_nginx_app_root",
         lambda v, c: _match(c["p"]["safe_path"], v["flask_nginx_app_root"]) and v["flask_nginx_app_root"].count("/") >= 2
         and not _match(c["__flask_nginx_forbidden_roots"], v["flask_nginx_app_root"]),
         "an absolute path at least two levels deep of letters, digits, '.', '_' and '-' (no '$', '%', quotes or spaces: "
         "Nginx and systemd would read them), without a trailing slash or hidden segments (e.g. /opt/NAME), outside "
         "system directories (/tmp, /root, /etc, /usr, /var/lib, /home, ...)"),
    Rule("flask_nginx_app_requirements_file",
         lambda v, c: v["flask_nginx_app_requirements_file"] == "" or _match(c["p"]["static_dir"],
                                                                           v["flask_nginx_app_requirements_file"]),
         "empty (none) or a file inside the app, relative, of letters, digits, '.', '_', '-' and '/', without '..' or "
         "hidden segments (e.g. requirements.txt); pip reads it as root"),
    Rule("flask_nginx_app_install", lambda v, c: _app_install_fits(v),
         "auto, or a way whose files the app has: uv_lock (uv.lock and pyproject.toml), requirements "
         "(flask_nginx_app_requirements_file, not empty), project (pyproject.toml) or none"),
    Rule("flask_nginx_app_writable_dirs",
         lambda v, c: isinstance(v["flask_nginx_app_writable_dirs"], list)
         and all(_writable_dir_ok(v, c, path) for path in v["flask_nginx_app_writable_dirs"]),
         "a list of absolute paths at least two levels deep of letters, digits, '.', '_' and '-' (e.g. /srv/NAME-uploads), "
         "outside system directories (/etc, /usr, /var/lib, /run, /tmp, /home, /var/log itself, ...), the app root, its "
         "releases, current and virtualenvs, and the ACME webroot (flask_nginx_acme_webroot)"),
    Rule("flask_nginx_app_src",
         lambda v, c: len(v["flask_nginx_app_src"]) > 0 or len(v["flask_nginx_app_git_repo"]) > 0,
         "the app's directory on the controller (or set flask_nginx_app_git_repo); this repository's inventories use "
         "files/sample_app"),
    Rule("flask_nginx_wsgi_app", lambda v, c: _match(c["p"]["wsgi_app"], v["flask_nginx_wsgi_app"]),
         "'module:callable' or a factory call 'module:create_app()' (literal arguments only)"),
    Rule("flask_nginx_app_env",
         lambda v, c: all(_match(c["p"]["env_key"], key) for key in v["flask_nginx_app_env"])
         and not any("\n" in str(value) for value in v["flask_nginx_app_env"].values()),
         "keys are shell-style names (letters, digits, '_'); values have no newline (only the keys are shown here)",
         value=lambda v, c: list(v["flask_nginx_app_env"])),
    Rule("flask_nginx_server_names",
         lambda v, c: not isinstance(v["flask_nginx_server_names"], str) and len(_names(v)) > 0
         and all(_match(c["p"]["server_name"], str(name)) for name in _names(v)),
         "a non-empty list of host names ('*.' allowed as first label) or IPv4 addresses; case does not matter (they are "
         "lower-cased)"),
    Rule("flask_nginx_server_names",
         lambda v, c: not _acme(v) or ((_dns01(v) or not any(str(n).startswith("*") for n in _names(v)))
                                       and not any(_match(c["p"]["ip_address"], str(n)) for n in _names(v))),
         "with flask_nginx_tls_mode=acme, host names only, no IP addresses; wildcards ('*.example.com') only with "
         "flask_nginx_acme_challenge=dns-01"),
    Rule("flask_nginx_acme_email", lambda v, c: not _acme(v) or _match(c["p"]["email"], v["flask_nginx_acme_email"]),
         "an e-mail address for the ACME account; required with flask_nginx_tls_mode=acme"),
    Rule("flask_nginx_acme_directory", lambda v, c: not _acme(v) or _match(c["p"]["https_url"], _acme_server(v, c)),
         "an https URL of an ACME directory (empty = Let's Encrypt)", value=_acme_server),
    Rule("flask_nginx_acme_webroot",
         lambda v, c: _match(c["p"]["safe_path"], v["flask_nginx_acme_webroot"]) and v["flask_nginx_acme_webroot"].count("/") >= 2
         and not _match(c["__flask_nginx_forbidden_roots"], v["flask_nginx_acme_webroot"]),
         "an absolute path at least two levels deep of letters, digits, '.', '_' and '-' (e.g. /var/www/flask-nginx-acme), "
         "outside system directories (/tmp, /etc, /usr, /var/lib, ...): Nginx serves it and the role makes it root's, 0755"),
    Rule("flask_nginx_acme_webroot",
         lambda v, c: not _inside(v["flask_nginx_acme_webroot"], v["flask_nginx_app_root"])
         and not _inside(v["flask_nginx_app_root"], v["flask_nginx_acme_webroot"]),
         lambda v, c: f"it must be apart from flask_nginx_app_root ({v['flask_nginx_app_root']}): the challenge webroot is "
                      "shared by every app of the host"),
    Rule("flask_nginx_security_headers", lambda v, c: _headers_ok(c, v["flask_nginx_security_headers"]),
         "a dict of header names (letters, digits and '-') to values without '\"', backslash, CR, LF or other control "
         "characters (Nginx quotes them; a line break would add a header of the client's choosing); an empty value drops "
         "the header"),
    Rule("flask_nginx_static_url", lambda v, c: _match(c["p"]["static_url"], v["flask_nginx_static_url"]),
         "a URL path that starts and ends with '/', without '..' or hidden segments (e.g. /static/)"),
    Rule("flask_nginx_static_dir", lambda v, c: _match(c["p"]["static_dir"], v["flask_nginx_static_dir"]),
         "a directory inside the app, relative, without '.', '..' or hidden segments (e.g. static); '.' would publish the source"),
    Rule("flask_nginx_healthcheck.path", lambda v, c: _match(c["p"]["url_path"], v["flask_nginx_healthcheck.path"]),
         "a URL path starting with '/'"),
    Rule("flask_nginx_releases_keep", _range("flask_nginx_releases_keep", 2),
         "at least 2 (old workers finish on the previous release)"),
    Rule("flask_nginx_app_address", lambda v, c: _app_address_ok(c, v["flask_nginx_app_address"]),
         "empty (the host's default IPv4 address), an IPv4 address (10.0.0.5) or an IPv6 address in brackets ([fd00::5]); "
         "no host name or port (systemd's ListenStream= takes an address, flask_nginx_gunicorn.port the port)"),
    Rule("flask_nginx_firewall.allow_from",
         lambda v, c: isinstance(v["flask_nginx_firewall.allow_from"], list) and _allow_from_ok(c, v["flask_nginx_firewall.allow_from"]),
         "empty (the fleet's own hosts) or a list of IPv4 addresses or networks (10.0.0.0/8, 192.0.2.7) that do not "
         "overlap, written as networks (no host bits after the prefix); not 0.0.0.0/0, host names or IPv6 (the rule is "
         "nftables' `ip saddr`)"),
    Rule("flask_nginx_gunicorn.bind",
         lambda v, c: v["flask_nginx_gunicorn.bind"] == "" or _bind_ok(c["p"], v["flask_nginx_gunicorn.bind"]),
         "empty (decided by the host's groups) or ADDRESS:PORT with a port from 1 to 65535"),
    Rule(", ".join(PORTS), lambda v, c: all(1 <= jinja_int(v[n]) <= 65535 for n in PORTS), "TCP ports from 1 to 65535",
         value=lambda v, c: [jinja_int(v[n]) for n in PORTS]),
    Rule("flask_nginx_http_port, flask_nginx_https_port",
         lambda v, c: v["flask_nginx_tls_mode"] == "none" or jinja_int(v["flask_nginx_http_port"]) != jinja_int(v["flask_nginx_https_port"]),
         "two different ports with TLS (one server cannot speak HTTP and HTTPS on one port)",
         value=lambda v, c: [jinja_int(v["flask_nginx_http_port"]), jinja_int(v["flask_nginx_https_port"])]),
    # A group's name with a typo would make every host run everything, the load balancers the app.
    Rule("flask_nginx_fleet.app_hosts",
         lambda v, c: v["flask_nginx_fleet.app_hosts"] in c["groups"] or v["flask_nginx_fleet.lb_hosts"] not in c["groups"],
         lambda v, c: f"the inventory has the load-balancer group {v['flask_nginx_fleet.lb_hosts']} "
                      "(flask_nginx_fleet.lb_hosts) but no group of this name, so every host would run the app, the "
                      "load balancers too (code, settings and secrets on the Internet-facing hosts). Name the inventory's "
                      f"group of app hosts (its groups: {', '.join(_inventory_groups(c)) or 'none'})"),
    # Only a group named by hand: an inventory of app hosts alone (no flask_lb) runs Nginx on
    # each of them, as it always did.
    Rule("flask_nginx_fleet.lb_hosts",
         lambda v, c: v["flask_nginx_fleet.lb_hosts"] in c["groups"] or v["flask_nginx_fleet.app_hosts"] not in c["groups"]
         or v["flask_nginx_fleet.lb_hosts"] == "flask_lb",
         lambda v, c: f"the inventory has the app-host group {v['flask_nginx_fleet.app_hosts']} "
                      "(flask_nginx_fleet.app_hosts) but no group of this name, so every host would run the public "
                      "Nginx, the app hosts too. Name the inventory's group of load balancers (its groups: "
                      f"{', '.join(_inventory_groups(c)) or 'none'})"),
    Rule("flask_nginx_build_host",
         lambda v, c: v["flask_nginx_build_host"] == ""
         or v["flask_nginx_build_host"] in c["groups"].get(v["flask_nginx_fleet.app_hosts"], [c["host"]]),
         lambda v, c: "empty (the first app host) or a host of the app-host group "
                      f"{v['flask_nginx_fleet.app_hosts']} (flask_nginx_fleet.app_hosts): "
                      f"{', '.join(c['groups'].get(v['flask_nginx_fleet.app_hosts'], [c['host']]))}"),
    Rule("flask_nginx_firewall.ssh_port", _range("flask_nginx_firewall.ssh_port", 0, 65535),
         "0 (the port Ansible connects to, else 22) or a TCP port up to 65535"),
    Rule("flask_nginx_firewall.allow_tcp",
         lambda v, c: all(1 <= jinja_int(port) <= 65535 for port in v["flask_nginx_firewall.allow_tcp"]),
         "a list of TCP ports from 1 to 65535"),
    Rule("flask_nginx_gunicorn_workers", _range("flask_nginx_gunicorn_workers", 0, 256),
         "0 ((2 x CPUs) + 1, at most 12) or a number of workers up to 256"),
    Rule("flask_nginx_gunicorn_threads", _range("flask_nginx_gunicorn_threads", 1, 1000), "from 1 to 1000 threads per worker"),
    Rule(", ".join(SECONDS), lambda v, c: min(jinja_int(v[n]) for n in SECONDS) >= 1, "whole seconds, at least 1",
         value=lambda v, c: [v[n] for n in SECONDS]),
    Rule("flask_nginx_gunicorn.keepalive",
         lambda v, c: jinja_int(v["flask_nginx_gunicorn.keepalive"])
         > jinja_int(re.sub(r"s$", "", str(v["flask_nginx_upstream.idle_timeout"]))),
         lambda v, c: f"more seconds than flask_nginx_upstream.idle_timeout ({v['flask_nginx_upstream.idle_timeout']}), "
                      "so Gunicorn never closes an idle connection first"),
    Rule(", ".join(COUNTS), lambda v, c: min(jinja_int(v[n]) for n in COUNTS) >= 0, "whole numbers, 0 or more",
         value=lambda v, c: [v[n] for n in COUNTS]),
    Rule("flask_nginx_healthcheck.retries", _range("flask_nginx_healthcheck.retries", 1), "at least 1 attempt"),
    Rule("flask_nginx_client_max_body_size", lambda v, c: _match(c["p"]["size"], v["flask_nginx_client_max_body_size"]),
         "an Nginx size, a number with an optional k, m or g (e.g. 10m; 0 = no limit)"),
    Rule("flask_nginx_logs.buffer",
         lambda v, c: v["flask_nginx_logs.buffer"] == "" or _match(c["p"]["size"], v["flask_nginx_logs.buffer"]),
         "empty (unbuffered) or an Nginx size such as 64k"),
    Rule(", ".join(DURATIONS), lambda v, c: all(_match(c["p"]["duration"], str(v[n])) for n in DURATIONS),
         "Nginx durations, a number with an optional unit ms, s, m, h, d (e.g. 60s, 1m30s)",
         value=lambda v, c: {n: v[n] for n in DURATIONS}),
    Rule("flask_nginx_static_expires", lambda v, c: _match(c["p"]["expires"], str(v["flask_nginx_static_expires"])),
         "an Nginx duration (7d), off, epoch or max"),
    Rule("flask_nginx_workers",
         lambda v, c: _units_ok(c["p"], v["flask_nginx_workers"], lambda items: all(
             _one_line(str(w.get("command", ""))) and 1 <= jinja_int(w.get("instances", 1)) <= 32
             and ("stop_timeout" not in w or (type(w["stop_timeout"]) is int and w["stop_timeout"] >= 1)) for w in items)),
         "unique names of lower-case letters, digits, '_' and '-'; a one-line command (no control characters); 1 to 32 "
         "instances; a stop_timeout of whole seconds, at least 1",
         value=lambda v, c: [w.get("name") for w in v["flask_nginx_workers"]]),
    Rule("flask_nginx_timers",
         lambda v, c: _units_ok(c["p"], v["flask_nginx_timers"], lambda items: all(
             _one_line(str(t.get("command", ""))) and str(t.get("command", "")).strip() for t in items)),
         "unique names of lower-case letters, digits, '_' and '-'; a one-line command (no control characters)",
         value=lambda v, c: [t.get("name") for t in v["flask_nginx_timers"]]),
    # Both go into job.timer as they are: a line break would add any setting (Unit=).
    Rule("flask_nginx_timers",
         lambda v, c: all(calendar_ok(t.get("on_calendar"))
                          and _match(c["p"]["timespan"], str(t.get("randomized_delay", "0"))) for t in v["flask_nginx_timers"]),
         "on_calendar a systemd calendar event ('hourly', 'Mon..Fri *-*-* 03:00:00', '*:0/15', 'Sat,Sun 10:00 Europe/Berlin'; "
         "see systemd.time(7)); randomized_delay a systemd time span ('0', '90', '5m', '1h 30min')",
         value=lambda v, c: [{"name": t.get("name"), "on_calendar": t.get("on_calendar"),
                              "randomized_delay": t.get("randomized_delay", "0")} for t in v["flask_nginx_timers"]]),
    Rule("flask_nginx_locations",
         lambda v, c: all(_match(c["p"]["location"], loc.get("path")) for loc in v["flask_nginx_locations"])
         and all(_match(c["p"]["size"], str(loc.get("client_max_body_size", "1m"))) for loc in v["flask_nginx_locations"])
         and all(_match(c["p"]["duration"], str(loc.get("read_timeout", "1s"))) for loc in v["flask_nginx_locations"]),
         "a path ('/ws/', '= /api/stream' or '^~ /uploads/') without braces or ';', an Nginx size and duration",
         value=lambda v, c: [loc.get("path") for loc in v["flask_nginx_locations"]]),
    Rule("flask_nginx_timeouts.websocket_read",
         lambda v, c: _match(c["p"]["duration"], v["flask_nginx_timeouts.websocket_read"]), "an Nginx duration, e.g. 3600s or 1h"),
    Rule("flask_nginx_rate_limit.rate",
         lambda v, c: v["flask_nginx_rate_limit.rate"] == "" or _match(c["p"]["rate"], v["flask_nginx_rate_limit.rate"]),
         "empty (no limit) or requests per second or minute, e.g. 20r/s or 600r/m"),
    Rule("flask_nginx_acme_retries", _range("flask_nginx_acme_retries", 0, 10), "a number of retries from 0 to 10"),
    Rule("flask_nginx_acme_retry_delay", _range("flask_nginx_acme_retry_delay", 1, 300),
         "seconds from 1 to 300 before the first retry (doubled after each)"),
    Rule("flask_nginx_acme_profile",
         lambda v, c: v["flask_nginx_acme_profile"] == "" or _match(c["p"]["acme_profile"], v["flask_nginx_acme_profile"]),
         "empty (the CA's default) or a profile name (letters, digits, '.', '_', '-'; at most 64), e.g. tlsserver"),
    Rule("flask_nginx_acme_dns_server",
         lambda v, c: not _rfc2136(v) or (_ip(c, v["flask_nginx_acme_dns_server"]) is not None
                                        and not v["flask_nginx_acme_dns_server"].startswith("[")),
         "with flask_nginx_acme_challenge=dns-01 and flask_nginx_acme_dns_plugin=rfc2136, the IP address (v4 or v6) of the DNS server that takes the updates"),
    Rule("flask_nginx_acme_dns_plugin", lambda v, c: _dns_plugin(v) is not None,
         f"one of certbot's DNS plugins the role writes credentials for: {', '.join(DNS_PLUGINS)}"),
    # The values are never shown, only the keys given.
    Rule("flask_nginx_acme_dns_credentials", lambda v, c: _dns_credentials_ok(v), _dns_credentials_allowed,
         value=_dns_credentials_shown),
    Rule("flask_nginx_acme_dns_port", _range("flask_nginx_acme_dns_port", 1, 65535), "a port from 1 to 65535"),
    Rule("flask_nginx_acme_dns_tsig_key_name",
         lambda v, c: not _rfc2136(v) or _match(c["p"]["tsig_key_name"], v["flask_nginx_acme_dns_tsig_key_name"]),
         "with flask_nginx_acme_challenge=dns-01 and flask_nginx_acme_dns_plugin=rfc2136, the TSIG key's name (letters, digits, '.', '_', '-')"),
    # The secret itself is never shown, only whether it was given.
    Rule("flask_nginx_acme_dns_tsig_secret",
         lambda v, c: not _rfc2136(v) or _match(c["p"]["base64"], v["flask_nginx_acme_dns_tsig_secret"]),
         "with flask_nginx_acme_challenge=dns-01 and flask_nginx_acme_dns_plugin=rfc2136, the TSIG key's secret in base64 (from Ansible Vault)",
         value=lambda v, c: f"(hidden, {len(v['flask_nginx_acme_dns_tsig_secret'])} characters)"),
    Rule("flask_nginx_acme_dns_tsig_algorithm",
         lambda v, c: not _rfc2136(v) or v["flask_nginx_acme_dns_tsig_algorithm"] != "HMAC-MD5",
         "with flask_nginx_acme_challenge=dns-01 and flask_nginx_acme_dns_plugin=rfc2136, an HMAC-SHA algorithm (HMAC-SHA256 or HMAC-SHA512, as "
         "tsig-keygen makes): HMAC-MD5 is deprecated for TSIG (RFC 8945)"),
    Rule("flask_nginx_acme_dns_propagation_seconds", _range("flask_nginx_acme_dns_propagation_seconds", 0, 3600),
         "seconds from 0 to 3600"),
    Rule("flask_nginx_acme_issuer",
         lambda v, c: v["flask_nginx_acme_issuer"] == ""
         or v["flask_nginx_acme_issuer"] in c["groups"].get(v["flask_nginx_fleet.lb_hosts"], [c["host"]]),
         "empty (the load-balancer group's first host) or a host of the load-balancer group (flask_nginx_fleet.lb_hosts)"),
    Rule("flask_nginx_trusted_proxies",
         lambda v, c: isinstance(v["flask_nginx_trusted_proxies"], list)
         and all(_proxy_ok(c, str(n)) for n in v["flask_nginx_trusted_proxies"]),
         "a list of IPv4 or IPv6 addresses or networks (CIDR), e.g. 10.0.0.0/8 or 2001:db8::/32, none wider than /8 "
         "(IPv4) or /16 (IPv6) unless private (fc00::/7): a wider one (0.0.0.0/1, ::/0) trusts any client's "
         "X-Forwarded-For and X-Request-ID"),
    Rule("flask_nginx_canonical_host",
         lambda v, c: v["flask_nginx_canonical_host"] == ""
         or (v["flask_nginx_canonical_host"].lower() in [str(n).lower() for n in _names(v)]
             and "*" not in v["flask_nginx_canonical_host"]),
         "empty (off) or one of flask_nginx_server_names (not a wildcard)"),
    # The micro-cache: each prefix goes into a quoted regular expression of a map (templates/cache.conf.j2).
    Rule("flask_nginx_cache_paths",
         lambda v, c: not isinstance(v["flask_nginx_cache_paths"], str)
         and all(_match(c["p"]["cache_path"], path) for path in v["flask_nginx_cache_paths"]),
         "a list of URL path prefixes, each starting with '/', without spaces, quotes, braces, ';', '#', '?' or '\\' "
         "(e.g. /blog/; [] = no cache)"),
    Rule("flask_nginx_cache_seconds", _range("flask_nginx_cache_seconds", 0),
         "whole seconds, 0 or more (0 = only what the app gives a lifetime)"),
    Rule("flask_nginx_cache_stale_seconds", _range("flask_nginx_cache_stale_seconds", 0),
         "whole seconds, 0 or more (0 = no stale page while the app fails)"),
    Rule("flask_nginx_cache_max_size", lambda v, c: _match(c["p"]["cache_size"], str(v["flask_nginx_cache_max_size"])),
         "an Nginx size above 0, a number with an optional k, m or g (e.g. 100m or 1g)"),
    Rule("flask_nginx_logs.keep", _range("flask_nginx_logs.keep", 1), "a number of rotated logs to keep, at least 1"),
    Rule("flask_nginx_logs.max_size",
         lambda v, c: v["flask_nginx_logs.max_size"] == "" or _match(c["p"]["logrotate_size"], v["flask_nginx_logs.max_size"]),
         "empty (daily only) or a logrotate size such as 100M, 500k or 1G"),
    Rule("flask_nginx_metrics_listen", lambda v, c: _bind_ok(c["p"], v["flask_nginx_metrics_listen"]),
         "ADDRESS:PORT, e.g. 127.0.0.1:9113 (a private address unless you mean to publish the metrics)"),
    # The exporter has no authentication: with the firewall off, every interface and a public
    # address publish the host's metrics (a host name cannot be checked here).
    Rule("flask_nginx_metrics_listen",
         lambda v, c: not v["flask_nginx_metrics"] or v["flask_nginx_firewall.enabled"]
         or _private_host(c, v["flask_nginx_metrics_listen"].rsplit(":", 1)[0]),
         "with flask_nginx_firewall.enabled off, a loopback or private address (127.0.0.1:9113, 10.0.0.5:9113, [::1]:9113, "
         "localhost:9113), not every interface (0.0.0.0, [::]), a public address or a host name: the exporter has no "
         "authentication. Turn on flask_nginx_firewall.enabled (it lets only the web ports and flask_nginx_firewall.allow_tcp in) "
         "to listen elsewhere"),
    Rule("flask_nginx_gunicorn.statsd_host",
         lambda v, c: v["flask_nginx_gunicorn.statsd_host"] == "" or _bind_ok(c["p"], v["flask_nginx_gunicorn.statsd_host"]),
         "empty (no statsd) or HOST:PORT of a statsd server, e.g. 127.0.0.1:8125"),
    # playbooks/deploy.yml: the canary and the automatic rollback.
    Rule("flask_nginx_canary_hosts, flask_nginx_canary_seconds, flask_nginx_canary_min_requests, flask_nginx_canary_max_p99_ms",
         lambda v, c: all(type(v.get(n, 0)) is int and v.get(n, 0) >= 0 for n in _CANARY_COUNTS)
         and v.get("flask_nginx_canary_seconds", 60) >= 1,
         "whole numbers, 0 or more (canary_hosts 0 = no canary; canary_seconds at least 1; canary_max_p99_ms 0 = "
         "not checked)", value=lambda v, c: [v.get(n) for n in _CANARY_COUNTS]),
    Rule("flask_nginx_canary_max_error_ratio",
         lambda v, c: isinstance(v.get("flask_nginx_canary_max_error_ratio", 0.01), (int, float))
         and not isinstance(v.get("flask_nginx_canary_max_error_ratio", 0.01), bool)
         and 0 <= v.get("flask_nginx_canary_max_error_ratio", 0.01) < 1,
         "a share of the canary's requests, from 0 (no 5xx allowed) to below 1, e.g. 0.01",
         value=lambda v, c: v.get("flask_nginx_canary_max_error_ratio")),
    Rule("flask_nginx_canary_hosts",
         lambda v, c: not v.get("flask_nginx_canary_hosts") or v["flask_nginx_logs.format"] == "json",
         "0 (no canary) while flask_nginx_logs.format is combined: the canary is judged on the load balancers' "
         "JSON access log (its upstream and status of every request)"),
    # playbooks/rollback.yml: a release id is a directory name under releases/.
    Rule("flask_nginx_rollback_to", lambda v, c: _match(c["p"]["release_id"], v.get("flask_nginx_rollback_to", "")),
         "empty (the newest release that was live before the current one) or a release id, 12 lower-case hex digits "
         "(ls APP_ROOT/releases)"),
    # On the controller: the app's directory holds the WSGI module (a git app is checked out later).
    Rule("flask_nginx_app_src",
         lambda v, c: v["flask_nginx_app_git_repo"] != "" or v["flask_nginx_app_src"] == "" or _wsgi_module_found(v),
         lambda v, c: "it must be a directory on the controller that holds the module of flask_nginx_wsgi_app "
                      f"({v['flask_nginx_wsgi_app']})."),
    # The deploy lock (tasks/lock.yml): a lock not renewed for this long was left by a dead run.
    Rule("flask_nginx_lock_timeout", _range("flask_nginx_lock_timeout", 60),
         "seconds, at least 60, after which a deploy lock that its run has not renewed counts as a dead run's "
         "and is taken over"),
    # A string would run letter by letter, one per line.
    Rule("flask_nginx_post_switch_commands",
         lambda v, c: isinstance(v["flask_nginx_post_switch_commands"], list)
         and all(isinstance(cmd, str) and cmd.strip() for cmd in v["flask_nginx_post_switch_commands"]),
         "a list of command lines (a YAML list, even of one command), none empty"),
    # Each app removes the worker and job units its lists no longer name, by the patterns
    # NAME-worker-*@*.service and NAME-job-*: a name holding either part would let one app
    # match another's units.
    # (Nor one that ends so: app shop-worker's worker x is shop-worker-worker-x@.service, which
    # app shop's clean-up, shop-worker-*@*.service, matches.)
    Rule("flask_nginx_app_name",
         lambda v, c: not re.search(r"-(worker|job)(-|\Z)", str(v["flask_nginx_app_name"])),
         "a name without '-worker-' or '-job-', nor ending in '-worker' or '-job' (the role names an app's background "
         "units NAME-worker-... and NAME-job-...: another app's clean-up would match them)"),
    # ssh with no pinned host key would trust whatever answers first.
    Rule("flask_nginx_app_git_known_hosts",
         lambda v, c: not _git_over_ssh(v["flask_nginx_app_git_repo"]) or len(v["flask_nginx_app_git_known_hosts"]) > 0,
         lambda v, c: f"the git server's host keys (known_hosts lines, e.g. from ssh-keyscan checked out of band) are "
                      f"required for {v['flask_nginx_app_git_repo']}, an ssh URL: trusting the first key seen is refused"),
    Rule("flask_nginx_app_exclude",
         lambda v, c: isinstance(v["flask_nginx_app_exclude"], list) and all(
             isinstance(p, str) and p.strip("/") and not any(ch in p for ch in "\0\n\r") for p in v["flask_nginx_app_exclude"]),
         "a list of shell patterns (non-empty strings on one line; '/x' matches from the app's directory)"),
    # Access (the plan's `access`, below): the URL prefix, logins, allowed clients.
    Rule("flask_nginx_url_prefix", lambda v, c: _prefix_ok(v["flask_nginx_url_prefix"]),
         "empty (the app at /) or a URL path without a trailing '/', e.g. /shop: segments of letters, digits, '.', '_', "
         "'~' and '-', none starting with '.'; not /flask-nginx-errors (the role's error pages)"),
    Rule("flask_nginx_app_env",
         lambda v, c: not v["flask_nginx_url_prefix"] or "SCRIPT_NAME" not in v["flask_nginx_app_env"],
         "no SCRIPT_NAME with flask_nginx_url_prefix: the role gives Gunicorn SCRIPT_NAME from the prefix (only the keys "
         "are shown here)",
         value=lambda v, c: list(v["flask_nginx_app_env"])),
    # The passwords themselves are never shown, only the user names.
    Rule("flask_nginx_basic_auth_users", lambda v, c: _users_ok(v["flask_nginx_basic_auth_users"]),
         "a dict of user name to password (from Ansible Vault): names of letters, digits, '.', '_', '@' and '-' (at most "
         "64, no ':'); each password a non-empty string without a line break (only the names are shown here)",
         value=lambda v, c: (sorted(str(u) for u in v["flask_nginx_basic_auth_users"])
                             if isinstance(v["flask_nginx_basic_auth_users"], dict) else "(not a dict)")),
    Rule("flask_nginx_client_allow", lambda v, c: _networks_ok(v["flask_nginx_client_allow"]),
         "a list of IPv4 or IPv6 addresses or networks without host bits (e.g. 192.0.2.0/24, 2001:db8::/32); "
         "[] = every client"),
    Rule("flask_nginx_locations",
         lambda v, c: all((loc.get("basic_auth") is None or isinstance(loc["basic_auth"], bool))
                          and (loc.get("allow") is None or _networks_ok(loc["allow"])) for loc in v["flask_nginx_locations"]),
         "each entry's basic_auth true or false, and its allow a list of IPv4 or IPv6 addresses or networks without host "
         "bits (e.g. 10.0.0.0/8); allow: [] = every client on that path",
         value=lambda v, c: [{"path": loc.get("path"), "basic_auth": loc.get("basic_auth"), "allow": loc.get("allow")}
                             for loc in v["flask_nginx_locations"] if "basic_auth" in loc or "allow" in loc]),
    Rule("flask_nginx_locations",
         lambda v, c: not _auth_paths(v) or (_users_ok(v["flask_nginx_basic_auth_users"]) and bool(v["flask_nginx_basic_auth_users"])),
         "basic_auth: true on a location needs the logins in flask_nginx_basic_auth_users",
         value=lambda v, c: _auth_paths(v)),
    Rule("flask_nginx_healthcheck.path",
         lambda v, c: not _site_auth(v) or _health_path(v["flask_nginx_healthcheck.path"]) != "/",
         "a path of its own (e.g. /healthz) with flask_nginx_basic_auth_users: the health path is open without a login, "
         "and / would open the app's home page"),
]


def git_userinfo(url):
    """The credentials part of an http(s) git URL (USER:TOKEN of https://USER:TOKEN@host/...), or ''."""
    found = re.match(r"https?://([^/]+)@", url, re.IGNORECASE)
    return found.group(1) if found else ""


def git_without_userinfo(url):
    """URL without the credentials part of an http(s) git URL (https://host/... of
    https://USER:TOKEN@host/...); any other URL as it is."""
    return re.sub(r"^(https?://)[^/]+@", r"\1", url, flags=re.IGNORECASE)


def git_origin(url):
    """Scheme, host and port of an http(s) git URL with credentials (https://host:8443 of
    https://USER:TOKEN@host:8443/...), or '' for a URL without them."""
    found = re.match(r"(https?://)[^/]+@([^/]+)", url, re.IGNORECASE)
    return found.group(1) + found.group(2) if found else ""


def _git_over_ssh(url):
    return url.startswith("ssh://") or bool(re.match(r"[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:", url))


def _inventory_groups(c):
    return sorted(g for g in c["groups"] if g not in ("all", "ungrouped"))


def refusals(v, context):
    """The message of every rule of RULES that the coerced variables V break (empty: all hold).
    CONTEXT: p (the patterns), the reserved tables, ssh_user, groups, host."""
    return [message for message in (rule.refusal(v, context) for rule in RULES) if message]


# ---------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------


def unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def version_tuple(text):
    return tuple(int(part) for part in re.findall(r"[0-9]+", str(text)))


def package_version(installed, table, release):
    """The version of an installed package (Debian's 'EPOCH:X.Y.Z-R' form), else its release's."""
    found = re.search(r"^([0-9]+:)?([0-9.]+)", installed or "")
    version = (found.group(2) if found else "") or table.get(release or "", table["default"])
    return re.sub(r"\.$", "", version)


def _get(mapping, *keys, default=None):
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping or mapping[key] is None:
            return default
        mapping = mapping[key]
    return mapping


def fleet(v, c):
    """What this host runs and which peers it needs: from the inventory alone."""
    host, groups = c["host"], c["groups"]
    app_group, lb_group = v["flask_nginx_fleet.app_hosts"], v["flask_nginx_fleet.lb_hosts"]
    # A play without the fleet groups treats every host as a single host.
    app_hosts = list(groups.get(app_group, [host]))
    lb_hosts = list(groups.get(lb_group, [host]))
    runs_app = app_group not in groups or host in groups[app_group]
    runs_lb = lb_group not in groups or host in groups[lb_group]
    # App hosts listen on TCP when a load balancer must reach them: every app host when
    # some load balancer runs no app, else the app hosts without Nginx (a host that runs
    # both serves itself through its unix socket).
    tcp_app_hosts = (app_hosts if [h for h in lb_hosts if h not in app_hosts]
                     else unique(h for h in app_hosts if h not in lb_hosts))
    acme = v["flask_nginx_tls_mode"] == "acme"
    # One load balancer asks the CA and renews; the others copy its certificate.
    issuer = v["flask_nginx_acme_issuer"] or (lb_hosts[0] if lb_hosts else host)
    issues_here = runs_lb and acme and issuer == host
    follower = runs_lb and acme and issuer != host
    # App hosts on TCP trust the load balancers' addresses; a load balancer needs the
    # addresses of the app hosts it sends to that this run does not visit (--limit), and a
    # follower load balancer the ACME issuer's.
    needs_address = runs_app != runs_lb or host in tcp_app_hosts
    peers = [h for h in unique((lb_hosts if host in tcp_app_hosts else []) + (tcp_app_hosts if runs_lb else [])
                               + ([issuer] if follower else [])) if h != host]
    return {
        "name": host, "runs_app": runs_app, "runs_lb": runs_lb, "app_hosts": app_hosts, "lb_hosts": lb_hosts,
        "tcp_app_hosts": tcp_app_hosts, "needs_address": needs_address, "peers": peers,
        "address_hosts": unique(([host] if needs_address else []) + peers),
        # The app host of this batch that runs flask_nginx_pre_switch_commands.
        "pre_switch_host": next((h for h in c.get("play_batch", []) if h in app_hosts), ""),
        # Only app hosts check out a git app; a load balancer takes the static files from
        # the first app host of the play (of the group in deploy.yml's play 3).
        "git_checkout": len(v["flask_nginx_app_git_repo"]) > 0 and runs_app,
        # Credentials in an https URL (https://USER:TOKEN@host/...): never shown (tasks/app_git.yml
        # redacts them; the plan, which is shown, holds only whether there are any).
        "git_credentials": git_userinfo(v["flask_nginx_app_git_repo"]) != "",
        # The URL git is given: without them. git gets them from a root-only file of the
        # app (tasks/app_git.yml), never in its arguments, where a process list shows them.
        "git_url": git_without_userinfo(v["flask_nginx_app_git_repo"]),
        # The scheme, host and port that the credentials are for, and for nothing else.
        "git_origin": git_origin(v["flask_nginx_app_git_repo"]),
        "git_source": next((h for h in app_hosts if h in c.get("play_hosts_all", [])), app_hosts[0] if app_hosts else host),
        # A release is complete with code and virtualenv on app hosts, code alone on load balancers.
        "release_marker": ".complete" if runs_app else ".code-complete",
    }, {"acme": acme, "issuer": issuer, "issues_here": issues_here, "follower": follower}


def names(v, c):
    # certbot lower-cases names; so does the plan, before anything uses them.
    server_names = unique(str(n).lower() for n in _names(v))
    canonical = v["flask_nginx_canonical_host"].lower()
    http, https = jinja_int(v["flask_nginx_http_port"]), jinja_int(v["flask_nginx_https_port"])
    plain = [n for n in server_names if not n.startswith("*")]
    return {
        "server_names": server_names,
        "canonical_host": canonical,
        # Where the other names redirect, per scheme of the server block.
        "canonical_urls": {"http": f"http://{canonical}{'' if http == 80 else ':' + str(http)}",
                           "https": f"https://{canonical}{'' if https == 443 else ':' + str(https)}"},
        # The health check's name (health.yml, status.yml): the canonical host, where every other
        # name is redirected (301); else the first name that is not a wildcard, else a name under
        # the first wildcard.
        "health_name": canonical or (plain[0] if plain else (server_names[0] if server_names else "").replace("*", "flask-nginx-health")),
    }


# When the app fails, a stale page: connection errors, timeouts, a malformed answer, its 5xx
# (the 'error' of proxy_cache_use_stale also covers "no live upstreams" in a fleet). 'updating':
# while one request refreshes a page, the others get the previous answer.
STALE_ON = ("error", "timeout", "invalid_header", "updating", "http_500", "http_502", "http_503", "http_504")


def cache(v, c):
    """The micro-cache of the app (flask_nginx_cache_paths), as templates/cache.conf.j2 and the
    site's proxied locations render it; {"enabled": False} renders no cache directive."""
    paths = unique(v["flask_nginx_cache_paths"])
    if not paths:
        return {"enabled": False}
    seconds, stale = jinja_int(v["flask_nginx_cache_seconds"]), jinja_int(v["flask_nginx_cache_stale_seconds"])
    health = v["flask_nginx_healthcheck.path"].split("?", 1)[0]
    return {
        "enabled": True,
        "paths": paths,
        # Matches $uri on a cached path: the prefixes, literally.
        "path_regex": "^(?:" + "|".join(re.escape(path) for path in paths) + ")",
        # Never cached, even under a cached prefix: the role's health check must ask the app
        # itself, or a stale page would pass it (a path fit to be quoted in the map).
        "never": [health] if _match(c["p"]["cache_path"], health) else [],
        # proxy_cache_valid of 200, 301 and 302 for an answer without a lifetime of its own
        # ("" = none: only what the app gives a lifetime is stored).
        "valid": f"{seconds}s" if seconds else "",
        # Nginx removes an entry once nobody has asked for it for this long (inactive=): its
        # lifetime, then the time it may be served stale (at least 1 s: 0 would keep nothing).
        "inactive": f"{max(seconds + stale, 1)}s",
        "use_stale": list(STALE_ON) if stale else ["updating"],
        "max_size": str(v["flask_nginx_cache_max_size"]),
    }


def tls(v, c, roles):
    acme, follower = roles["acme"], roles["follower"]
    app, config_dir = v["flask_nginx_app_name"], c["__flask_nginx_config_dir"]
    dns01 = v["flask_nginx_acme_challenge"] == "dns-01"
    plugin = v["flask_nginx_acme_dns_plugin"]
    # A follower load balancer keeps its copy of the issuer's ACME certificate beside the
    # self-signed one's place: certbot's live/ is certbot's alone.
    directory = f"/etc/letsencrypt/live/{app}" if acme and not follower else f"{config_dir}/tls"
    # certbot's DNS credentials, one file per app and plugin; those of the app's other plugins go.
    credentials_dir = c["__flask_nginx_acme_dns_credentials_dir"]
    credentials = f"{credentials_dir}/{app}-{plugin}.ini"
    # A follower's copy is one file, the chain then the key (Nginx reads each from it), written
    # at once: a certificate never sits beside another one's key.
    cert, key = ((f"{directory}/certificate-and-key.pem",) * 2 if acme and follower
                 else (f"{directory}/fullchain.pem", f"{directory}/privkey.pem"))
    return {
        "enabled": v["flask_nginx_tls_mode"] != "none", "acme": acme, "selfsigned": v["flask_nginx_tls_mode"] == "selfsigned",
        "issuer": roles["issuer"], "issues_here": roles["issues_here"], "follower": follower,
        "dir": directory, "cert": cert, "key": key,
        "acme_server": _acme_server(v, c),
        "acme_authenticator": f"dns-{plugin}" if dns01 else "webroot",
        "dns_plugin": plugin if dns01 else "",
        "dns_credentials_dir": credentials_dir,
        "dns_credentials": credentials if dns01 else "",
        # On the issuer, where the app's credentials for plugins it does not use would be
        # (on_host: those found go, once no certificate on disk names them). A former issuer
        # keeps its lineage and its file (docs/security.md).
        "dns_credentials_others": [f"{credentials_dir}/{app}-{name}.ini" for name in DNS_PLUGINS
                                   if roles["issues_here"] and not (dns01 and name == plugin)],
        "acme_challenge_args": ([f"--authenticator=dns-{plugin}", f"--dns-{plugin}-credentials={credentials}",
                                 f"--dns-{plugin}-propagation-seconds={v['flask_nginx_acme_dns_propagation_seconds']}"]
                                if dns01 else ["--webroot", f"--webroot-path={v['flask_nginx_acme_webroot']}"]),
        # The arguments certbot gets for the profile ([] = the CA's default).
        "acme_profile_args": [f"--preferred-profile={v['flask_nginx_acme_profile']}"] if v["flask_nginx_acme_profile"] else [],
    }


def units(v, c, host, issues_here):
    """The worker and job units of this host: workers on every app host; a job on the first
    app host of the group only (on all of them when its entry says all_hosts: true)."""
    app, files = v["flask_nginx_app_name"], []
    if host["runs_app"]:
        for worker in v["flask_nginx_workers"]:
            unit = f"{app}-worker-{worker['name']}@.service"
            instances = [f"{unit[:-9]}@{n}.service" for n in range(1, jinja_int(worker.get("instances", 1)) + 1)]
            files.append({"stop_timeout": 30, **worker, "kind": "worker", "src": "worker@.service.j2", "unit": unit, "instance_units": instances})
        job_here = host["name"] == (host["app_hosts"][0] if host["app_hosts"] else host["name"])
        for timer in v["flask_nginx_timers"]:
            if timer.get("all_hosts", False) or job_here:
                base = f"{app}-job-{timer['name']}"
                files += [{**timer, "kind": "job", "src": "job.service.j2", "unit": f"{base}.service"},
                          {**timer, "kind": "timer", "src": "job.timer.j2", "unit": f"{base}.timer"}]
    workers = [u for f in files if f["kind"] == "worker" for u in f["instance_units"]]
    gunicorn = c["__flask_nginx_unit"]
    # The systemd units the role starts on this host.
    started = (([f"{gunicorn}.socket", f"{gunicorn}.service"] if host["runs_app"] else []) + workers
               + [f["unit"] for f in files if f["kind"] == "timer"]
               + (["nginx.service", "logrotate.timer"] if host["runs_lb"] else [])
               + ([f"{c['__flask_nginx_exporter_unit']}.service"] if host["runs_lb"] and v["flask_nginx_metrics"] else []))
    timers = [f["unit"] for f in files if f["kind"] == "timer"]
    # What status.yml reports: those, certbot's timer and the exporter.
    status = (([f"{gunicorn}.service", f"{gunicorn}.socket"] if host["runs_app"] else []) + workers + timers
              + (["nginx.service", "logrotate.timer"] if host["runs_lb"] else [])
              + (["certbot.timer"] if issues_here else [])
              + ([f"{c['__flask_nginx_exporter_unit']}.service"] if host["runs_lb"] and v["flask_nginx_metrics"] else []))
    return {"files": files, "worker_instances": workers, "names": started, "status": status}


def packages(v, c, host, tls_plan):
    """Every package the role uses on this host, installed in one apt transaction."""
    if "__flask_nginx_packages" not in c:
        return {}
    runs_lb, firewall = host["runs_lb"], v["flask_nginx_firewall.enabled"]
    wanted = (c["__flask_nginx_packages"]
              + (c["__flask_nginx_nginx_packages"] if runs_lb else [])
              + (c["__flask_nginx_git_packages"] if v["flask_nginx_app_git_repo"] else [])
              + (c["__flask_nginx_acme_packages"] if tls_plan["issues_here"] else [])
              + ([c["__flask_nginx_acme_dns_plugin_packages"][tls_plan["dns_plugin"]]]
                 if tls_plan["issues_here"] and tls_plan["dns_plugin"] else [])
              + (c["__flask_nginx_selfsigned_packages"] if tls_plan["selfsigned"] or tls_plan["follower"] else [])
              + (c["__flask_nginx_firewall_packages"] if firewall else [])
              + (c["__flask_nginx_logrotate_packages"] if runs_lb else [])
              + (c["__flask_nginx_metrics_packages"] if runs_lb and v["flask_nginx_metrics"] else []))
    return {"wanted": wanted}


def _platform(c, name):
    """What a host's wheels fit: its distribution, major version and architecture (None unknown)."""
    facts = _get(c["hostvars"].get(name, {}), "ansible_facts", default={}) or {}
    found = tuple(facts.get(k) for k in ("distribution", "distribution_major_version", "architecture"))
    return found if all(found) else None


def build_host(v, c, host):
    """The app host whose build of a release this one installs (flask_nginx_build_host, by
    default the first app host), or this host itself. Wheels fit a platform, so a host of
    another distribution, version or architecture than the build host takes the build of
    the first app host of its own platform; a host whose platform is not known (its facts
    could not be learned: tasks/plan.yml asks the app hosts a limited run does not visit)
    builds for itself."""
    me, app_hosts = host["name"], host["app_hosts"]
    if not host["runs_app"] or len(app_hosts) < 2:
        return me
    mine = _platform(c, me)
    if mine is None:
        return me
    chosen = v["flask_nginx_build_host"] or app_hosts[0]
    return next((h for h in unique([chosen] + app_hosts) if _platform(c, h) == mine), me)


def installer_env(index, ca_file):
    """The environment of pip and uv for the package index INDEX (flask_nginx_package_index):
    the same index, CA bundle and proxy for both installers. Without a bundle uv trusts the
    system's store (as Debian's pip does), not its own; it never downloads a Python (the
    system's python3 is the one); files are copied out of its cache, so that deleting the
    cache never breaks a release."""
    pip_env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    uv_env = {"UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy", "UV_NO_CONFIG": "1"}
    if index["url"]:
        pip_env["PIP_INDEX_URL"] = uv_env["UV_DEFAULT_INDEX"] = index["url"]
    if index["extra_urls"]:
        pip_env["PIP_EXTRA_INDEX_URL"] = uv_env["UV_INDEX"] = " ".join(index["extra_urls"])
    if index["ca_bundle"]:
        pip_env["PIP_CERT"] = uv_env["SSL_CERT_FILE"] = ca_file
    else:
        uv_env["UV_NATIVE_TLS"] = "1"
    if index["proxy"]:
        pip_env["PIP_PROXY"] = uv_env["HTTPS_PROXY"] = uv_env["HTTP_PROXY"] = index["proxy"]
    return pip_env, uv_env


def build_host_index(v, c, builder):
    """The package index of the build host, from its own variables (its inventory's), else ours:
    what it builds from, also when this run does not visit it."""
    given = c["hostvars"].get(builder, {}).get("flask_nginx_package_index")
    if not isinstance(given, dict):
        return v["flask_nginx_package_index"]
    return merged(given, groups(c["options"])["flask_nginx_package_index"])


def python(v, c, host):
    """What builds the virtualenvs (flask_nginx_python_installer), and what this run installs:
    uv, and Gunicorn's packages, where the probe found another version (or none) in their
    markers. The markers hold versions, not names: a revert to an older pin installs again."""
    files = _get(c, "probe", "files", default={}) or {}
    installer, runs_app = v["flask_nginx_python_installer"], host["runs_app"]
    # gevent only for its worker class, with Gunicorn's `gevent` extra (its gevent worker
    # imports `packaging`).
    gunicorn = ([f"gunicorn[gevent]=={v['flask_nginx_gunicorn.version']}", f"gevent=={c['__flask_nginx_gevent_version']}"]
                if v["flask_nginx_gunicorn.worker_class"] == "gevent" else [f"gunicorn=={v['flask_nginx_gunicorn.version']}"])
    index, ca_file = v["flask_nginx_package_index"], c["__flask_nginx_pip_ca_file"]
    pip_env, uv_env = installer_env(index, ca_file)
    install = app_install(v)
    # uv.lock is read by uv alone, whatever builds the rest; a git app's lock is found later.
    needs_uv = installer == "uv" or install in ("uv_lock", "auto")
    # One build for the fleet: a host that takes another's build installs its wheels alone
    # and never asks an index (tasks/fleet_wheels.yml brings them).
    builder = build_host(v, c, host)
    build_from = "" if builder == host["name"] else builder
    build_env = {}
    if build_from:
        build_pip_env, build_uv_env = installer_env(build_host_index(v, c, build_from), ca_file)
        build_env = {**build_pip_env, **build_uv_env}
        wheels = c["__flask_nginx_fleet_wheels_dir"]
        pip_env.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels})
        # Not through uv's cache: it would take a wheel it unpacked before under the same
        # name without checking the file's hash against the lock again.
        uv_env.update({"UV_FIND_LINKS": wheels, "UV_NO_CACHE": "1"})
    return {"installer": installer, "gunicorn_packages": gunicorn, "pip_env": pip_env, "uv_env": uv_env,
            # The app host whose build this host installs ("" = this host builds, from the index).
            "build_from": build_from,
            # uv has no variable for --no-index: its installs take these arguments.
            "uv_args": ["--no-index"] if build_from else [],
            # What pip and uv on the build host make this host's wheels with (its own index).
            "build_env": build_env,
            "app_install": install, "app_packaging": [list(pair) for pair in app_packaging(v)],
            # The index's CA bundle on the host ('' = none): pip, uv and git over https trust it.
            "ca_file": ca_file if index["ca_bundle"] else "",
            "install_uv": runs_app and needs_uv
            and (files.get("uv_marker") or "").strip() != str(c["__flask_nginx_uv_version"]),
            "install_gunicorn": runs_app and (files.get("gunicorn_marker") or "").strip() != " ".join(gunicorn)}


def _address(c, name):
    """A host's IPv4 address: its facts, else the one the role read, else ansible_host, else its name."""
    hostvars = c["hostvars"].get(name, {})
    return (_get(hostvars, "ansible_facts", "default_ipv4", "address") or c.get("ipv4", {}).get(name)
            or hostvars.get("ansible_host") or name)


def _all_ipv4(c, hosts):
    return [a for h in hosts for a in (_get(c["hostvars"].get(h, {}), "ansible_facts", "all_ipv4_addresses") or [])]


def listen(v, c, host, tls_plan, options):
    """Where Gunicorn listens, here and on every app host this host sends to. One rule:
    flask_nginx_gunicorn.bind if set; on a host that also runs Nginx a unix socket ('');
    else flask_nginx_app_address (or the default IPv4 address) and flask_nginx_gunicorn.port.
    Another host's own settings win over ours."""
    me, upstream, tcp = host["name"], {}, {}
    bind_here = ""
    for name in unique([me] + (host["app_hosts"] if host["runs_lb"] else [])):
        hostvars = c["hostvars"].get(name, {})

        def setting(key, _name=name, _hostvars=hostvars):
            group, dot, sub = key.partition(".")
            if dot and _name != me:
                # A group's key (flask_nginx_gunicorn.port): that host's group, its defaults
                # under the keys it set, as its own plan reads it.
                found = _hostvars.get(group)
                if not isinstance(found, dict):
                    return v[key]
                keys = options[group]["options"]
                return _coerce_one(merged(found, keys).get(sub), keys.get(sub, {}))
            raw = v[key] if _name == me else _hostvars.get(key, v[key])
            return _coerce_one(raw, options.get(key, {}))

        bind = setting("flask_nginx_gunicorn.bind")
        if not bind and name in host["tcp_app_hosts"]:
            bind = f"{setting('flask_nginx_app_address') or _address(c, name)}:{setting('flask_nginx_gunicorn.port')}"
        if name == me:
            bind_here = bind
        # The line of this app host in a load balancer's upstream ('' = none: a host that
        # runs Nginx too serves itself).
        if name == me and not bind:
            upstream[name] = f"unix:{c['__flask_nginx_socket']}"
        elif bind:
            upstream[name] = (f"{bind} max_fails={v['flask_nginx_upstream.max_fails']}"
                              f" fail_timeout={v['flask_nginx_upstream.fail_timeout']}")
            if not bind.startswith("unix:"):
                tcp[name] = bind
    lbs = host["lb_hosts"]
    ipv4 = c.get("ipv4", {})
    ssh_port = jinja_int(v["flask_nginx_firewall.ssh_port"])
    issuer = tls_plan["issuer"]
    return {
        # '' = the unix socket held by systemd; ADDRESS:PORT = TCP.
        "bind": bind_here,
        # On a load balancer: [{key: app host, value: its upstream server line}].
        "upstream_servers": [{"key": h, "value": line} for h, line in upstream.items() if line and h in host["app_hosts"]]
        if host["runs_lb"] else [],
        # On a load balancer: {app host: ADDRESS:PORT}, as its access log's upstream_addr names
        # it (the canary's requests are told apart by it).
        "upstream_addrs": {h: bind for h, bind in tcp.items() if h in host["app_hosts"]} if host["runs_lb"] else {},
        # Gunicorn on TCP trusts X-Forwarded-* only from these: every IPv4 address of every
        # load balancer (a second interface works too).
        "trusted_lbs": unique(["127.0.0.1"] + ((_all_ipv4(c, lbs) + [ipv4[h] for h in lbs if h in ipv4]) if bind_here else [])),
        # Gunicorn on TCP accepts connections from these alone (the socket's IPAddressAllow=,
        # enforced by the kernel with the firewall off too): the load balancers, this host's
        # own address (its health check) and loopback.
        "allowed_clients": (unique(["localhost", bind_here.rsplit(":", 1)[0].strip("[]")]
                                   + _all_ipv4(c, lbs) + [ipv4[h] for h in lbs if h in ipv4]) if bind_here else []),
        # Where a follower load balancer passes the ACME challenges it lacks.
        "acme_issuer_address": (f"{_address(c, issuer)}:"
                                f"{_coerce_one(c['hostvars'].get(issuer, {}).get('flask_nginx_http_port', v['flask_nginx_http_port']), {'type': 'int'})}"
                                if tls_plan["follower"] else ""),
        # The firewall keeps the port Ansible uses open (0 = that port, else 22).
        "ssh_port": ssh_port if ssh_port > 0 else jinja_int(c.get("ansible_port") or 22),
        # Who may reach flask_nginx_firewall.allow_tcp: the given networks, else the fleet's own hosts.
        "firewall_sources": (v["flask_nginx_firewall.allow_from"] if v["flask_nginx_firewall.allow_from"]
                             else unique(_all_ipv4(c, unique(lbs + host["app_hosts"])) + list(ipv4.values()) + ["127.0.0.1"])),
    }


def metrics_plan(v, c, probe, runs_lb, units_up):
    app, exporter = v["flask_nginx_app_name"], f"{c['__flask_nginx_exporter_unit']}.service"
    apps = {os.path.basename(path) for path in _get(probe, "globs", "metrics_apps", default=[]) or []}
    others = sorted(apps - {app})
    on = runs_lb and v["flask_nginx_metrics"]
    left = runs_lb and not on and not others
    return {
        "marker": f"{c['__flask_nginx_metrics_markers']}/{app}",
        "marker_found": app in apps,
        "other_apps": others,
        # No app of the host wants them any more: stop the exporter, remove stub_status.
        "stop_exporter": left and (exporter in units_up
                                   or _get(probe, "units", exporter, "enabled", default="") == "enabled"),
        "remove_stub_status": left and _get(probe, "paths", "stub_status", "type", default="absent") != "absent",
    }


def renewal_setting(conf, key):
    found = re.search(rf"(?m)^{key} = (\S+)$", conf or "")
    return found.group(1) if found else ""


def on_host(v, c, plan):
    """What needs the probe, the certificate on disk and the fleet's addresses."""
    probe = c.get("probe") or {}
    host, tls_plan, names_plan = plan["host"], plan["tls"], plan["names"]
    release = _get(c, "facts", "distribution_release", default="")
    nginx = package_version(_get(probe, "packages", "nginx", default=""), c["__flask_nginx_nginx_versions"], release)
    certbot = package_version(_get(probe, "packages", "certbot", default=""), c["__flask_nginx_certbot_versions"], release)
    cert_absent = _get(probe, "paths", "cert", "type", default="absent") == "absent"
    cert_names = [n[4:].lower() for n in c.get("cert_names") or [] if n.startswith("DNS:")]
    server_names = names_plan["server_names"]
    renewal = c.get("renewal_conf") or ""
    http, https = jinja_int(v["flask_nginx_http_port"]), jinja_int(v["flask_nginx_https_port"])
    prefix = c["__flask_nginx_default_file_prefix"]
    default_server = v["flask_nginx_default_server"]
    files = ([{"src": "default-server.conf.j2", "dest": f"{prefix}{http}.conf", "link": True, "port": http, "ssl": False}]
             if default_server else [])
    if default_server and tls_plan["enabled"] and version_tuple(nginx) >= (1, 19, 4):
        files.append({"src": "default-server.conf.j2", "dest": f"{prefix}{https}.conf", "link": True, "port": https, "ssl": True})
    files += [{"src": "upgrade-map.conf.j2", "dest": "/etc/nginx/conf.d/flask-nginx-upgrade-map.conf", "link": False},
              {"src": "log.conf.j2", "dest": c["__flask_nginx_log_conf_file"], "link": False},
              {"src": "limits.conf.j2", "dest": c["__flask_nginx_limits_file"], "link": False},
              {"src": "cache.conf.j2", "dest": c["__flask_nginx_cache_file"], "link": False},
              {"src": "upstream.conf.j2", "dest": c["__flask_nginx_upstream_file"], "link": False},
              {"src": "site.conf.j2", "dest": c["__flask_nginx_site_file"], "link": True}]
    if v["flask_nginx_metrics"]:
        files.append({"src": "stub-status.conf.j2", "dest": c["__flask_nginx_stub_status_file"], "link": False})
    runs_lb = host["runs_lb"]
    if not runs_lb:
        files = []  # an app host behind load balancers runs no Nginx
    bind = plan["listen"]["bind"]
    installed = [name for name, version in (_get(probe, "packages", default={}) or {}).items() if version]
    units_up = [name for name, state in (_get(probe, "units", default={}) or {}).items()
                if isinstance(state, dict) and state.get("enabled") == "enabled" and state.get("active") == "active"]
    ipv6 = v["flask_nginx_ipv6"]
    tls_plan = {
        **tls_plan,
        # The names the HTTPS server block serves before any ACME request: all of them with
        # a self-signed certificate (made before Nginx is configured), the names on the
        # certificate on disk with ACME (none before the first one).
        "https_names_now": (server_names if tls_plan["selfsigned"]
                            else [n for n in server_names if n in cert_names] if tls_plan["acme"] else []),
        "cert_names": cert_names,
        # Credentials of a plugin the app no longer uses (exact names: another app's
        # APP-*.ini may match the probe's pattern), except the one the certificate on disk was
        # ordered with: its renewals need it until an order with the new plugin succeeds.
        "dns_credentials_gone": [path for path in tls_plan["dns_credentials_others"]
                                 if path in (_get(probe, "globs", "dns_credentials", default=[]) or [])
                                 and (cert_absent or f"dns_{path.rsplit('-', 1)[-1][:-4]}_credentials = {path}" not in renewal)],
        # Only the issuer asks the CA; followers copy its certificate (acme_copy.yml).
        "acme_needed": tls_plan["issues_here"] and (
            cert_absent or sorted(cert_names) != sorted(server_names)
            or renewal_setting(renewal, "server") != tls_plan["acme_server"]
            or renewal_setting(renewal, "authenticator") != tls_plan["acme_authenticator"]
            # Another key type, or (certbot 4: it keeps the profile) another profile, than the
            # certificate was ordered with: order again. A key type not written down is not a
            # reason (certbot writes the one it is given).
            or renewal_setting(renewal, "key_type") not in ("", v["flask_nginx_acme_key_type"])
            or (version_tuple(certbot) >= (4, 0)
                and renewal_setting(renewal, "preferred_profile") != v["flask_nginx_acme_profile"])),
        "certbot_version": certbot,
        "certbot_installed": bool(_get(probe, "packages", "certbot", default="")),
        # certbot 4.0 brought --preferred-profile (ACME profiles).
        "acme_profile_supported": version_tuple(certbot) >= (4, 0),
    }
    return tls_plan, {
        "nginx": {
            "version": nginx,
            "listen_ipv6": runs_lb and (ipv6 == "always" or (ipv6 == "auto" and
                                                            _get(probe, "paths", "if_inet6", "type", default="absent") != "absent")),
            # nginx >= 1.25.1: `http2 on;` (the `listen ... http2` form is deprecated).
            "http2_directive": version_tuple(nginx) >= (1, 25, 1),
        },
        "files": {"nginx": files},
        "packages": {**plan["packages"], "missing": [p for p in plan["packages"].get("wanted", []) if p not in installed],
                     # The host has the Python libraries the apt and pip modules need (install.yml).
                     "host_ready": bool(_get(probe, "packages", "python3-apt", default=""))
                     and bool(_get(probe, "packages", "python3-packaging", default=""))},
        "units_up": units_up,
        # Metrics are the host's (one stub_status, one exporter), used by every app that asks
        # for them; each such app keeps a marker. The last app to turn them off takes them away.
        "metrics": metrics_plan(v, c, probe, runs_lb, units_up),
        # Running units whose newest process started before `current` last changed: they
        # still run an older release (after --tags, or a run that failed after the switch).
        "stale_units": [name for name, state in (_get(probe, "units", default={}) or {}).items()
                        if isinstance(state, dict) and state.get("fresh") is False],
        # A real request at the end of the run: through Nginx as a client of the site (HTTPS
        # when it has TLS), or straight to Gunicorn on an app-only host. In maintenance Nginx
        # answers 503 with the role's page: that is the healthy answer.
        "health": {
            "url": (f"https://127.0.0.1:{https}" if runs_lb and tls_plan["enabled"]
                    else f"http://127.0.0.1:{http}" if runs_lb else f"http://{bind}") + v["flask_nginx_url_prefix"]
            + v["flask_nginx_healthcheck.path"],
            "status": 503 if runs_lb and v["flask_nginx_maintenance"] else 200,
            "name": names_plan["health_name"],
        },
    }


def account_refusals(v, c, plan):
    """On an app host: the app's account, group and state directory are the app's alone. The role
    makes its account with a comment of its own (tasks/app_host.yml); an existing account without
    it would be taken over (its home, shell and group rewritten, its groups and files the app's).
    An account of an earlier version of the role has no comment and the app root as its home."""
    if not plan["host"]["runs_app"]:
        return []
    probe, host, out = c.get("probe") or {}, c["host"], []
    app, user = v["flask_nginx_app_name"], v["flask_nginx_app_user"]
    group = user  # the app's group has its account's name
    found = _get(probe, "users", user, default={})
    if found.get("exists"):
        comment = found.get("comment", "")
        groups = [g for g in found.get("groups", []) if g != group]
        if comment != c["__flask_nginx_account_comment"] and (comment or found.get("home") != v["flask_nginx_app_root"]):
            out.append(f"flask_nginx_app_user = {json.dumps(user)} is refused on {host}: the account exists and the role did not "
                       f"make it (comment {json.dumps(comment)}, home {found.get('home')}, groups "
                       f"{', '.join(groups) or 'none'}). The role would rewrite its home, shell and group, and the app would "
                       "get its files and groups. Choose a name no account has (the role makes it), or, if the role made "
                       f"this account for this app, mark it: usermod -c {json.dumps(c['__flask_nginx_account_comment'])} {user}")
        elif privileged := [g for g in groups if g in c["__flask_nginx_reserved_groups"]]:
            out.append(f"flask_nginx_app_user = {json.dumps(user)} is refused on {host}: the account is in the privileged "
                       f"group{'s' if len(privileged) > 1 else ''} {', '.join(privileged)}, which the app would inherit "
                       f"(systemd keeps supplementary groups). Take it out (gpasswd -d {user} {privileged[0]}).")
    found = _get(probe, "groups", group, default={})
    others = unique([m for m in found.get("members", []) if m != user] + [u for u in found.get("users", []) if u != user])
    if found.get("exists") and others:
        out.append(f"flask_nginx_app_user = {json.dumps(user)} is refused on {host}: its group {group} exists and is not the "
                   f"app's alone ({', '.join(others)} {'is' if len(others) == 1 else 'are'} in it): the app would get their "
                   "group's files. Choose an app user whose name no group has (the role makes the group).")
    state = _get(probe, "paths", "state_dir", default={})
    if state.get("type", "absent") != "absent" and (state["type"] != "directory" or state.get("owner") != user):
        what = f"is a {state['type']}" if state["type"] != "directory" else f"belongs to {state.get('owner')}"
        out.append(f"flask_nginx_app_name = {json.dumps(app)} is refused on {host}: {state.get('path')} exists and {what}, not "
                   f"to the app's user {user}; systemd's StateDirectory= would hand it and all it holds to that user. Choose "
                   "another flask_nginx_app_name (or remove the directory if it is a leftover of this app).")
    return out


def site_settings(lines):
    """What the lines the probe read of an app's enabled site (templates/site.conf.j2) say: the
    app's name, each port it listens on with whether over IPv6 too, and the TLS protocols of
    each HTTPS port. None for a file the role did not write."""
    found = re.fullmatch(r"# Site ([a-z][a-z0-9_-]*): .*", lines[0]) if lines else None
    if not found:
        return None
    ports, ssl, protocols = {}, [], ""
    for line in lines:
        listen = re.match(r"\s*listen (\[::\]:)?([0-9]+)( ssl)?[ ;]", line)
        if listen:
            port = int(listen.group(2))
            ports[port] = ports.get(port, False) or bool(listen.group(1))
            if listen.group(3):
                ssl.append(port)
        setting = re.match(r"\s*ssl_protocols ([^;]+);", line)
        protocols = protocols or (setting.group(1).strip() if setting else "")
    return {"app": found.group(1), "ports": ports, "protocols": {port: protocols for port in ssl}}


def shared_port_refusals(v, c, plan):
    """The apps of a host share the default server of each port (templates/default-server.conf.j2,
    one file per port). Nginx negotiates TLS there, before it reads the name, so two apps on one
    HTTPS port with different profiles cannot both hold, and each run would rewrite the file with
    its own profile and IPv6 setting: refused, naming the other app, from its enabled site."""
    if not plan["host"]["runs_lb"]:
        return []
    out, me, host = [], v["flask_nginx_app_name"], c["host"]
    http, https = jinja_int(v["flask_nginx_http_port"]), jinja_int(v["flask_nginx_https_port"])
    profiles = c["__flask_nginx_tls_profiles"]
    protocols = profiles[v["flask_nginx_tls_profile"]]["protocols"]
    ipv6, prefix = plan["nginx"]["listen_ipv6"], c["__flask_nginx_default_file_prefix"]
    for path, lines in sorted((_get(c.get("probe") or {}, "lines", "sites", default={}) or {}).items()):
        site = site_settings(lines)
        if not site or site["app"] == me:
            continue
        other = site["app"]
        theirs = site["protocols"].get(https)
        if plan["tls"]["enabled"] and theirs and theirs != protocols:
            name = next((n for n, p in profiles.items() if p["protocols"] == theirs), "another")
            out.append(f"flask_nginx_tls_profile = {json.dumps(v['flask_nginx_tls_profile'])} is refused on {host}: the app "
                       f"{other} ({path}) serves HTTPS on port {https} with the {json.dumps(name)} profile (ssl_protocols "
                       f"{theirs}). The apps of a host share the HTTPS default server of a port ({prefix}{https}.conf), where "
                       "Nginx negotiates the protocol before it reads the name: one app's profile would not hold, and each "
                       f"run would rewrite that file. Give {me} and {other} the same flask_nginx_tls_profile, or this app "
                       "another flask_nginx_https_port.")
        shared = [p for p in ([http] + ([https] if plan["tls"]["enabled"] else [])) if p in site["ports"]]
        if v["flask_nginx_default_server"] and any(site["ports"][p] != ipv6 for p in shared):
            port = next(p for p in shared if site["ports"][p] != ipv6)
            out.append(f"flask_nginx_ipv6 = {json.dumps(v['flask_nginx_ipv6'])} is refused on {host}: the app {other} ({path}) "
                       f"listens on port {port} {'over IPv6 too' if site['ports'][port] else 'over IPv4 only'}, and this app "
                       f"would {'not' if site['ports'][port] else 'listen over IPv6 too'}. The apps of a host share the "
                       f"default server of a port ({prefix}{port}.conf), which each run would rewrite with its own app's "
                       f"setting. Give {me} and {other} the same flask_nginx_ipv6.")
    return out


def host_refusals(v, c, plan):
    """The checks that need the plan: where Gunicorn listens, the installed certbot, the accounts,
    the ports shared with the host's other apps."""
    out = account_refusals(v, c, plan) + shared_port_refusals(v, c, plan)
    bind = plan["listen"]["bind"]
    if (plan["host"]["runs_app"] and bind and not v["flask_nginx_firewall.enabled"] and not v["flask_nginx_fleet.private_network"]
            and not _private_host(c, bind.rsplit(":", 1)[0])):
        out.append(f"Gunicorn would listen on {bind} (flask_nginx_app_address / flask_nginx_gunicorn.bind), which is not a "
                   "private address: clients could bypass Nginx and forge X-Forwarded-* headers. Set flask_nginx_app_address "
                   "to a private address, turn on flask_nginx_firewall.enabled (only the load balancers may connect), or set "
                   "flask_nginx_fleet.private_network: true if this network is private.")
    tls_plan = plan["tls"]
    if tls_plan["issues_here"] and v["flask_nginx_acme_profile"] and not tls_plan["acme_profile_supported"]:
        where = "installed" if tls_plan["certbot_installed"] else "the version its release would install"
        out.append(f"flask_nginx_acme_profile = {json.dumps(v['flask_nginx_acme_profile'])} is refused on {c['host']}: ACME "
                   f"profiles need certbot 4.0 or later (Debian 13), and this host's certbot is {tls_plan['certbot_version']} "
                   f"({where}). Leave flask_nginx_acme_profile empty for the CA's default profile.")
    return out


# ---------------------------------------------------------------------------
# Access: the URL prefix (and the server block apps share), logins, allowed clients
# ---------------------------------------------------------------------------

# Where the role keeps the Nginx files of access and of shared server blocks.
ACCESS_DIR = "/etc/nginx/flask-nginx"
_PREFIX = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*\Z")
_USER = re.compile(r"[A-Za-z0-9._@-]{1,64}\Z")
_LOCATION = re.compile(r"((?:=|\^~)\s+)?(/.*)\Z", re.S)
# The role's own health check comes from here (health.yml: 127.0.0.1).
LOOPBACK = ["127.0.0.1", "::1"]


def _prefix_ok(prefix):
    return (isinstance(prefix, str) and _PREFIX.match(prefix) is not None
            and not (prefix + "/").startswith("/flask-nginx-errors/"))


def _users_ok(users):
    return isinstance(users, dict) and all(
        isinstance(name, str) and _USER.match(name) and isinstance(password, (str, int, float)) and not isinstance(password, bool)
        and str(password) != "" and "\n" not in str(password) and "\r" not in str(password)
        for name, password in users.items())


def _networks_ok(networks):
    """A list of addresses or networks Nginx's allow takes as they are (no host bits set)."""
    import ipaddress
    if not isinstance(networks, list):
        return False
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=True)
        except (ValueError, TypeError):
            return False
    return True


def _auth_paths(v):
    return [loc.get("path") for loc in v["flask_nginx_locations"] if loc.get("basic_auth") is True]


def _site_auth(v):
    """The whole site asks for a login: there are users, and no location says basic_auth: true
    (then only those do)."""
    return bool(v["flask_nginx_basic_auth_users"]) and not _auth_paths(v)


def _health_path(path):
    return str(path).split("?", 1)[0]


def front_of(v, server_names):
    """The server block an app with a URL prefix is mounted in: named after its first server
    name ('' without a prefix: the app has server blocks of its own)."""
    if not v["flask_nginx_url_prefix"] or not server_names:
        return ""
    return server_names[0].replace("*", "_")


def shared_tls(v, c, tls_plan, server_names):
    """The certificate of a mounted app is its server block's, shared by every app mounted
    there: named after the front (certbot's --cert-name, the self-signed and copied files)."""
    front = front_of(v, server_names)
    if not front:
        return {**tls_plan, "cert_name": v["flask_nginx_app_name"]}
    directory = (f"/etc/letsencrypt/live/{front}" if tls_plan["acme"] and not tls_plan["follower"]
                 else f"/etc/flask-nginx/fronts/{front}/tls")
    return {**tls_plan, "cert_name": front, "dir": directory, "cert": f"{directory}/fullchain.pem",
            "key": f"{directory}/privkey.pem"}


def access(v, c, server_names):
    """Where the app is served (its URL prefix, the server block it is mounted in), who may
    log in (user names only: the passwords stay in the variable) and which clients may connect,
    for the whole site and per location."""
    app, prefix = v["flask_nginx_app_name"], v["flask_nginx_url_prefix"]
    front = front_of(v, server_names)
    sites = os.path.dirname(c["__flask_nginx_site_file"])
    mount_dir = f"{ACCESS_DIR}/fronts/{front}" if front else ""
    users = v["flask_nginx_basic_auth_users"] or {}
    site_allow = list(v["flask_nginx_client_allow"])
    locations = []
    for loc in v["flask_nginx_locations"]:
        found = _LOCATION.match(str(loc.get("path", "")))
        path = f"{found.group(1) or ''}{prefix}{found.group(2)}" if found else loc.get("path")
        # login: whether Nginx asks for a login here (the site's, unless the location says).
        login = _site_auth(v) if loc.get("basic_auth") is None else loc.get("basic_auth") is True
        locations.append({"path": path, "basic_auth": loc.get("basic_auth"), "allow": loc.get("allow"), "login": login})
    return {
        "prefix": prefix,
        # The server block of the app's names that apps with a prefix share ('' = the app's own).
        "front": front,
        "front_file": f"{sites}/flask-nginx-front-{front}.conf" if front else "",
        "mount_dir": mount_dir,
        "mount_file": f"{mount_dir}/{app}.conf" if front else "",
        "static_url": prefix + v["flask_nginx_static_url"],
        "health_path": prefix + _health_path(v["flask_nginx_healthcheck.path"]),
        # Basic auth: the password file (hashed, root:www-data 0640), the whole site or only
        # the locations that say basic_auth: true.
        "realm": app,
        "users": sorted(users),
        "password_file": f"{ACCESS_DIR}/{app}.htpasswd" if users else "",
        "site_auth": _site_auth(v),
        # Allowed clients of the whole site; the health path also lets loopback in (the
        # role's own health check).
        "allow": site_allow,
        "health_allow": unique(LOOPBACK + site_allow) if site_allow else [],
        "locations": locations,
        # What the probe looks for, to remove what an earlier run left (stale_files).
        "globs": [f"{ACCESS_DIR}/fronts/*/*.conf", f"{sites}/flask-nginx-front-*.conf",
                  f"{c['__flask_nginx_nginx_sites_enabled']}/flask-nginx-front-*.conf",
                  c["__flask_nginx_site_file"], f"{c['__flask_nginx_nginx_sites_enabled']}/{app}.conf",
                  f"{ACCESS_DIR}/{app}.htpasswd"],
    }


def stale_access_files(v, c, access_plan, found):
    """The files an earlier run left that this one must remove before Nginx checks its new
    files: the app's own server block once it has a prefix, its mounts in other server blocks
    (and a shared server block with no app left), a password file no longer used."""
    app, enabled = v["flask_nginx_app_name"], c["__flask_nginx_nginx_sites_enabled"]
    sites = os.path.dirname(c["__flask_nginx_site_file"])
    found = set(found or [])
    mount = re.compile(rf"{re.escape(ACCESS_DIR)}/fronts/([^/]+)/([^/]+)\.conf\Z")
    mounts = [(m.group(1), m.group(2), path) for path in sorted(found) if (m := mount.match(path))]
    stale = [path for front, name, path in mounts if name == app and path != access_plan["mount_file"]]
    for front in sorted({front for front, name, path in mounts if path in stale}):
        if front != access_plan["front"] and not [p for f, _, p in mounts if f == front and p not in stale]:
            stale += [p for p in (f"{sites}/flask-nginx-front-{front}.conf", f"{enabled}/flask-nginx-front-{front}.conf")
                      if p in found]
    if access_plan["front"]:
        stale += [p for p in (c["__flask_nginx_site_file"], f"{enabled}/{app}.conf") if p in found]
    if not access_plan["password_file"]:
        stale += [p for p in [f"{ACCESS_DIR}/{app}.htpasswd"] if p in found]
    return stale


def make_plan(values, options, context, stage="host"):
    """The plan of one host. VALUES: the role's variables (templated, not yet coerced);
    OPTIONS: the main entry point's argument spec; CONTEXT: host, groups, hostvars, facts,
    the role's constants and tables (vars/), and from stage `host` on: probe, cert_names,
    renewal_conf, ipv4. Returns (plan, refusals)."""
    v = coerce(values, options)
    c = {**context, "p": context["__flask_nginx_patterns"], "options": options}
    plan = {"vars": {name: v[name] for name in typed_options(options) if name in v}}
    refused = type_refusals(values, v, options) or refusals(v, c)
    if refused or stage == "rules":
        return plan, refused
    host, roles = fleet(v, c)
    plan["host"] = host
    plan["names"] = names(v, c)
    plan["cache"] = cache(v, c)
    plan["tls"] = shared_tls(v, c, tls(v, c, roles), plan["names"]["server_names"])
    plan["access"] = access(v, c, plan["names"]["server_names"])
    plan["units"] = units(v, c, host, roles["issues_here"])
    plan["packages"] = packages(v, c, host, plan["tls"])
    if stage == "fleet":
        return plan, []
    plan["listen"] = listen(v, c, host, plan["tls"], options)
    plan["tls"], more = on_host(v, c, plan)
    plan.update(more)
    plan["python"] = python(v, c, plan["host"])
    plan["access"]["stale_files"] = stale_access_files(v, c, plan["access"],
                                                       _get(c, "probe", "globs", "access_files", default=[]))
    if plan["access"]["front"] and plan["host"]["runs_lb"]:
        # A mounted app: the shared server block and the app's own file it includes.
        plan["files"]["nginx"] = [f for f in plan["files"]["nginx"] if f["src"] != "site.conf.j2"] + [
            {"src": "site.conf.j2", "dest": plan["access"]["front_file"], "link": True},
            {"src": "site-mount.conf.j2", "dest": plan["access"]["mount_file"], "link": False}]
    return plan, host_refusals(v, c, plan)


# ---------------------------------------------------------------------------
# The canary (tasks/canary.yml): what its hosts answered, and the decision
# ---------------------------------------------------------------------------


def percentile(times, share):
    """The smallest time (ms) at or under which SHARE of the answers came, from {ms: count}."""
    counted = sorted((int(ms), n) for ms, n in times.items())
    total = sum(n for _, n in counted)
    if not total:
        return 0
    seen = 0
    for ms, n in counted:
        seen += n
        if seen >= share * total:
            return ms
    return counted[-1][0]


def canary_verdict(v, counts, hosts):
    """The canary's numbers, merged over the access logs that saw it (COUNTS: files/canary_stats.py's
    output per log), and whether the deploy goes on: ok, the reason, and a line that names
    the numbers it decided on."""
    requests = sum(int(c.get("requests", 0)) for c in counts)
    errors = sum(int(c.get("errors", 0)) for c in counts)
    times = {}
    for c in counts:
        for ms, n in (c.get("times") or {}).items():
            times[ms] = times.get(ms, 0) + int(n)
    ratio = errors / requests if requests else 0.0
    p99 = percentile(times, 0.99)
    max_ratio, least = v["flask_nginx_canary_max_error_ratio"], v["flask_nginx_canary_min_requests"]
    max_p99 = v["flask_nginx_canary_max_p99_ms"]
    numbers = (f"canary {', '.join(hosts)}: {requests} requests, {errors} answered 5xx (ratio {ratio:.4f}, at most "
               f"{max_ratio} allowed), p99 {p99} ms" + (f" (at most {max_p99} ms allowed)" if max_p99 else ""))
    if requests < least:
        return {"ok": True, "enough": False, "requests": requests, "errors": errors, "ratio": ratio, "p99_ms": p99,
                "text": f"{numbers}: fewer than {least} requests (flask_nginx_canary_min_requests) reached the canary, "
                        "so the decision rests on the health check alone, which it passed"}
    reasons = ([f"its 5xx ratio {ratio:.4f} is above flask_nginx_canary_max_error_ratio {max_ratio}"] if ratio > max_ratio else []) + \
              ([f"its p99 {p99} ms is above flask_nginx_canary_max_p99_ms {max_p99}"] if max_p99 and p99 > max_p99 else [])
    return {"ok": not reasons, "enough": True, "requests": requests, "errors": errors, "ratio": ratio, "p99_ms": p99,
            "text": f"{numbers}: " + ("; ".join(reasons) + " - the canary failed" if reasons else "the canary passed")}


# ---------------------------------------------------------------------------
# The run (who runs this plan, as the deploy lock and the history name it)
# ---------------------------------------------------------------------------


def controller_run(play_name="", cli_args=None):
    """The controller's user and host name, and the playbook files ansible-playbook was given
    (CLI_ARGS, default Ansible's own; the play's name PLAY_NAME when there are none)."""
    import getpass
    import socket
    if cli_args is None:
        from ansible import context
        cli_args = context.CLIARGS
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    playbooks = [os.path.basename(str(arg)) for arg in (cli_args.get("args") or ())
                 if str(arg).endswith((".yml", ".yaml"))]
    return {"user": user, "host": socket.gethostname(), "playbook": " ".join(playbooks) or str(play_name or "")}


# ---------------------------------------------------------------------------
# The action
# ---------------------------------------------------------------------------

# Constants and tables of vars/ the plan uses (paths named after the app, patterns).
CONSTANTS = ("__flask_nginx_patterns", "__flask_nginx_reserved_accounts", "__flask_nginx_reserved_groups",
             "__flask_nginx_reserved_names", "__flask_nginx_account_comment", "__flask_nginx_tls_profiles",
             "__flask_nginx_forbidden_roots", "__flask_nginx_private_networks", "__flask_nginx_system_dirs", "__flask_nginx_acme_letsencrypt",
             "__flask_nginx_acme_letsencrypt_staging", "__flask_nginx_config_dir", "__flask_nginx_acme_dns_credentials_dir",
             "__flask_nginx_unit", "__flask_nginx_socket", "__flask_nginx_default_file_prefix", "__flask_nginx_log_conf_file",
             "__flask_nginx_limits_file", "__flask_nginx_upstream_file", "__flask_nginx_site_file",
             "__flask_nginx_stub_status_file", "__flask_nginx_exporter_unit", "__flask_nginx_cache_file",
             "__flask_nginx_metrics_markers", "__flask_nginx_uv_version", "__flask_nginx_gevent_version",
             "__flask_nginx_pip_ca_file", "__flask_nginx_fleet_wheels_dir")
# From vars/<os_family>.yml, once plan.yml has loaded it.
TABLES = ("__flask_nginx_packages", "__flask_nginx_nginx_packages", "__flask_nginx_git_packages", "__flask_nginx_acme_packages",
          "__flask_nginx_acme_dns_plugin_packages", "__flask_nginx_selfsigned_packages", "__flask_nginx_firewall_packages",
          "__flask_nginx_logrotate_packages", "__flask_nginx_metrics_packages", "__flask_nginx_nginx_versions",
          "__flask_nginx_certbot_versions", "__flask_nginx_nginx_sites_enabled")


def load_options(role_path):
    """The main entry point's options, and those that only another entry point reads
    (flask_nginx_rollback_to: rollback.yml), which the plan checks too."""
    import yaml
    with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as spec:
        specs = yaml.safe_load(spec)["argument_specs"]
    options = dict(specs["main"]["options"])
    for entry in specs.values():
        for option, spec_of in (entry.get("options") or {}).items():
            if option not in options and spec_of.get("type") != "raw":
                options[option] = spec_of
    return options


class _HostVars(dict):
    """hostvars, read lazily: only the hosts and variables the plan asks for are templated."""

    def __init__(self, hostvars, templar):
        super().__init__()
        self._hostvars, self._templar = hostvars, templar

    def get(self, name, default=None):
        if name not in self._hostvars:
            return default if default is not None else {}
        return _HostVarsOne(self._hostvars[name], self._templar)


class _HostVarsOne(dict):
    def __init__(self, hostvars, templar):
        super().__init__()
        self._hostvars, self._templar = hostvars, templar

    def __contains__(self, key):
        return key in self._hostvars

    def __getitem__(self, key):
        return self._templar.template(self._hostvars[key])

    def get(self, key, default=None):
        try:
            return self[key] if key in self._hostvars else default
        except (KeyError, AnsibleError):
            return default


class ActionModule(ActionBase):
    """flask_nginx_plan: stage (rules|fleet|host|canary), probe, cert_names, renewal_conf, ipv4;
    canary_counts and canary_hosts for stage canary."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("stage", "probe", "cert_names", "renewal_conf", "ipv4", "canary_counts", "canary_hosts"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        stage = args.get("stage", "host")
        role_path = task_vars.get("role_path") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        options = load_options(role_path)

        def template(name, default=None):
            return self._templar.template(task_vars[name]) if name in task_vars else default

        values = {name: template(name, option.get("default")) for name, option in options.items()}
        if stage == "canary":
            verdict = canary_verdict(coerce(values, options), list(args.get("canary_counts") or []),
                                     list(args.get("canary_hosts") or []))
            result["changed"] = False
            result["ansible_facts"] = {"__flask_nginx_canary": verdict}
            return result
        context = {}
        for name in CONSTANTS + TABLES:
            try:
                context[name] = template(name)
            except AnsibleError:  # a path of vars/<os_family>.yml, not loaded yet (stage rules)
                pass
        facts = template("ansible_facts", {}) or {}
        context.update(
            host=task_vars.get("inventory_hostname"),
            groups={name: list(hosts) for name, hosts in (template("groups", {}) or {}).items()},
            hostvars=_HostVars(task_vars.get("hostvars", {}), self._templar),
            facts={k: facts.get(k) for k in ("distribution_release", "os_family")},
            ssh_user=template("ansible_user") or template("ansible_ssh_user") or "",
            ansible_port=template("ansible_port"),
            play_batch=list(template("ansible_play_batch", []) or []),
            play_hosts_all=list(template("ansible_play_hosts_all", []) or []),
            probe=args.get("probe") or {},
            cert_names=args.get("cert_names") or [],
            renewal_conf=base64.b64decode(args["renewal_conf"]).decode("utf-8", "replace") if args.get("renewal_conf") else "",
            # The default IPv4 addresses plan.yml read where the facts had none (its registered loop).
            ipv4={r["item"]: r["stdout"] for r in args.get("ipv4") or [] if isinstance(r, dict) and "stdout" in r},
        )
        plan, refused = make_plan(values, options, context, stage)
        plan["run"] = controller_run(template("ansible_play_name", ""))
        result["changed"] = False
        if refused:
            result["failed"] = True
            result["msg"] = " | ".join(refused)
            return result
        result["ansible_facts"] = {"__flask_nginx_plan": plan}
        return result
