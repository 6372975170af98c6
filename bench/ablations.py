"""The role's server block with one feature changed at a time (an ablation), for the benchmark's
table of what each feature costs: small, explicit transformations of the site file the role
rendered for `ours` (/etc/nginx/sites-available/shop.conf), each of which fails loudly when the
directives it changes are not there. Each copy listens on its own port and proxies to the role's
own Gunicorn, beside the original.

A feature on by default is turned off (direction "off"); one off by default is turned on
("on"), so the table says what it would cost. Every copy is measured against CONTROL, an
unchanged copy on its own port and log file like theirs, and NULL, a second unchanged copy,
measured the same way, is the table's noise floor (direction "none": never a cost to explain)."""
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

# The role's default security headers (defaults/main.yml: flask_nginx_security_headers).
ROLE_DEFAULTS = Path(__file__).resolve().parent.parent / "roles" / "flask_nginx" / "defaults" / "main.yml"
# The headers Nginx sets for Gunicorn that tell it about the client (X-Forwarded-*, X-Real-IP) or
# blank what a client could claim (Forwarded, X-Original-URL, ...); Host, Connection, Upgrade
# and X-Request-ID are not among them.
FORWARDED = r"X-Real-IP|X-Forwarded-[A-Za-z]+|Forwarded|X-Original-URL|X-Rewrite-URL"
# A rate no client of the benchmark reaches: wrk keeps at most 32 requests in flight, the
# burst (the role's default, 40) is never used up, and no answer is a 429.
UNREACHED_RATE = "100000r/s"


class NotInSite(ValueError):
    """The site file lacks what an ablation changes: the role's template changed."""


def change(text, pattern, replacement, what, flags=re.M):
    """TEXT with PATTERN replaced; NotInSite unless it was there."""
    new, count = re.subn(pattern, replacement, text, flags=flags)
    if not count:
        raise NotInSite(f"{what}: /{pattern}/ is not in the site file")
    return new


def drop_lines(text, pattern, what):
    """TEXT without the lines that match PATTERN (a whole line, indentation included)."""
    return change(text, rf"^[ \t]*(?:{pattern})[^\n]*\n", "", what)


def access_log_off(site):
    return change(site, r"^([ \t]*)access_log [^;]+;", r"\1access_log off;", "access log")


def access_log_unbuffered(site):
    return change(site, r"^([ \t]*access_log [^;]*?) buffer=\S+ flush=\S+;", r"\1;", "access log buffer")


def access_log_flush_1s(site):
    return change(site, r"^([ \t]*access_log [^;]* buffer=\S+) flush=\S+;", r"\1 flush=1s;", "access log flush")


def request_ids_off(site):
    site = drop_lines(site, r"add_header X-Request-ID ", "request id to the client")
    return drop_lines(site, r"proxy_set_header X-Request-ID ", "request id to Gunicorn")


def role_security_headers():
    return list(yaml.safe_load(ROLE_DEFAULTS.read_text())["flask_nginx_security_headers"])


def security_headers_off(site, names=None):
    names = names or role_security_headers()
    return drop_lines(site, r"add_header (?:" + "|".join(map(re.escape, names)) + r") ", "security headers")


def forwarded_headers_off(site):
    return drop_lines(site, rf"proxy_set_header (?:{FORWARDED}) ", "forwarded headers")


def gzip_dynamic_off(site):
    """`gzip off;` in `location /`: the app's answers go out as they come; static files keep
    their precompressed copies (gzip_static)."""
    return change(site, r"^([ \t]*)location / \{\n", r"\1location / {\n\1    gzip off;\n", "location /")


def rate_limit_on(site):
    """The role's limit_req, as flask_nginx_rate_limit.rate renders it, at a rate never reached."""
    zone = f"limit_req_zone $binary_remote_addr zone=bench_ablation_req:10m rate={UNREACHED_RATE};\n"
    site = change(site, r"^([ \t]*)server_tokens off;\n",
                  r"\1server_tokens off;\n\1limit_req zone=bench_ablation_req burst=40 nodelay;\n"
                  r"\1limit_req_status 429;\n", "server_tokens (where limit_req goes)", flags=re.M)
    return zone + site


def upstream_servers(upstream_conf):
    """The `server ...;` lines of the role's upstream file (flask-nginx-upstream-NAME.conf)."""
    servers = re.findall(r"^[ \t]*(server [^;]+;)", upstream_conf, re.M)
    if not servers:
        raise NotInSite("upstream: no server line in the upstream file")
    return servers


def upstream_keepalive_off(site, upstream_conf):
    """The same servers in an upstream without `keepalive`: a connection to Gunicorn per request."""
    servers = "".join(f"    {server}\n" for server in upstream_servers(upstream_conf))
    upstream = f"upstream bench_ablation_no_keepalive {{\n{servers}}}\n"
    return upstream + change(site, r"^([ \t]*)proxy_pass http://\w+;",
                             r"\1proxy_pass http://bench_ablation_no_keepalive;", "proxy_pass")


def unchanged(site):
    return site


@dataclass(frozen=True)
class Ablation:
    key: str
    feature: str           # what is changed, as the table says it
    direction: str         # "off": on by default, turned off; "on": off by default, turned on;
                           # "none": nothing changed (the noise floor)
    variable: str          # the role's variable that does the same, or why none does
    transform: Callable = field(repr=False)
    gzip_routes: bool = False  # measured with Accept-Encoding: gzip too
    needs_upstream: bool = False

    def apply(self, site, upstream_conf=""):
        return self.transform(site, upstream_conf) if self.needs_upstream else self.transform(site)


# The baseline of every ablation: the role's block as rendered, on a port and log file of its own.
# It is measured on every route of any ablation.
CONTROL = Ablation("control", "the role's block unchanged, on its own port (every row's baseline)", "none",
                   "none", unchanged, gzip_routes=True)

ABLATIONS = (
    Ablation("null", "nothing changed: a second unchanged copy (the noise floor of this table)", "none",
             "none", unchanged),
    Ablation("log-off", "the JSON access log off", "off",
             "none: the role always logs (flask_nginx_logs.format: json or combined)", access_log_off),
    Ablation("log-unbuffered", "the access log unbuffered (the role: buffer=64k flush=5s)", "off",
             'flask_nginx_logs.buffer: ""', access_log_unbuffered),
    Ablation("log-flush-1s", "the access log flushed every 1 s instead of 5 s", "on",
             "none: the role flushes every 5 s", access_log_flush_1s),
    Ablation("request-id-off", "request ids off (to Gunicorn and to the client; the log keeps them)", "off",
             "none", request_ids_off),
    Ablation("headers-off", "security headers off", "off",
             "flask_nginx_security_headers: {} (a header with an empty value is dropped)", security_headers_off),
    Ablation("forwarded-off", "forwarded headers off (the app no longer learns the client or the scheme)", "off",
             "none: Gunicorn trusts what arrives on its socket, so Nginx must set them", forwarded_headers_off),
    Ablation("gzip-off", "gzip of dynamic responses off", "off",
             "flask_nginx_gzip: false (static files too)", gzip_dynamic_off, gzip_routes=True),
    Ablation("rate-limit-on", f"rate limiting on (limit_req at {UNREACHED_RATE}, burst 40)", "on",
             'flask_nginx_rate_limit.rate (default "": off)', rate_limit_on),
    Ablation("keepalive-off", "upstream keep-alive off (a connection to Gunicorn per request)", "off",
             "flask_nginx_upstream.idle_connections: 0 (no keepalive directive)",
             upstream_keepalive_off, needs_upstream=True),
)


def with_port(site, port):
    """SITE listening on PORT instead of its own port (IPv4 and IPv6)."""
    return change(site, r"^([ \t]*listen[ \t]+(?:\[::\]:)?)\d+;", rf"\g<1>{port};", "listen")


def own_access_log(site, key):
    """SITE logging to a file of its own beside the role's (Nginx refuses one file with two
    different buffer settings): access.log becomes access-bench-KEY.log."""
    return re.sub(r"^([ \t]*access_log \S+?)(\.log )", rf"\1-bench-{key}\2", site, flags=re.M)


def ablated_site(ablation, site, port, upstream_conf="", source="the role's site file"):
    """The file the benchmark installs for ABLATION: SITE changed, on PORT, logging to its own
    file, with a header."""
    header = f"# Benchmark ablation {ablation.key}: {ablation.feature} (bench/ablations.py, from {source}).\n"
    return header + with_port(own_access_log(ablation.apply(site, upstream_conf), ablation.key), port)


def feature_cost_pct(ratio, direction):
    """What a feature costs in throughput, in %, from RATIO = ablated ÷ unchanged: for a feature
    turned off (or nothing changed), 1 − unchanged ÷ ablated; for one turned on, 1 − ablated ÷
    unchanged."""
    if ratio is None:
        return None
    return round((1 - ratio if direction == "on" else 1 - 1 / ratio) * 100, 1)
