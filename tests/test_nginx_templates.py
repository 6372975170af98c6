"""The role's Nginx files, rendered by Ansible for several inputs, pass the real `nginx -t`;
two of them are served by a real Nginx (request ids from trusted proxies only)."""
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROLE, SAMPLE_APP, main_conf, nginx_binary, nginx_t, plan, plan_module, role_module

ROBOTS = 'location = /robots.txt { return 200 "User-agent: *\\nDisallow:\\n"; }'
SITE, DEFAULT_80, UP, LIM = "flaskapp.conf", "flask-nginx-default-80.conf", "flask-nginx-upstream-flaskapp.conf", "flask-nginx-limits-flaskapp.conf"
LOG, STUB = "flask-nginx-log-flaskapp.conf", "flask-nginx-stub-status.conf"
UPG = "flask-nginx-upgrade-map.conf"
# The micro-cache's zone and maps: always rendered, without a directive while flask_nginx_cache_paths is empty.
CACHE = "flask-nginx-cache-flaskapp.conf"

# Served for real: their own ports, no default server, unbuffered log.
LIVE = {"flask_nginx_default_server": False, "flask_nginx_ipv6": "never", "flask_nginx_logs": {"buffer": ""}}
# name -> (variables over the role's defaults, the files the role renders). Each
# case is a made-up host of its own; the role's real plan decides the rest.
CASES = {
    "defaults": ({}, [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    "two-names-port-8081-ipv6": ({
        "flask_nginx_server_names": ["example.com", "www.example.com"],
        "flask_nginx_http_port": 8081,
        "flask_nginx_ipv6": "always",
    }, [CACHE, "flask-nginx-default-8081.conf", LIM, LOG, UPG, UP, SITE]),
    # Upper-case names are lower-cased by the plan (certbot does the same).
    "capital-names-limits": ({"flask_nginx_server_names": ["Example.COM"],
                              "flask_nginx_rate_limit": {"rate": "20r/s", "connections": 10}},
                             [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    "no-gzip-unbuffered-log": ({"flask_nginx_gzip": False, "flask_nginx_logs": {"buffer": ""}}, [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    # No idle connections to Gunicorn kept: `keepalive 0` is not valid Nginx, the directive goes.
    "upstream-keepalive-off": ({"flask_nginx_upstream": {"idle_connections": 0}}, [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    "extra-config": ({"flask_nginx_extra_config": f"{ROBOTS}\nadd_header X-Content-Type-Options nosniff always;"},
                     [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    "dashed-app-name": ({"flask_nginx_app_name": "my-app", "flask_nginx_server_names": ["my-app.example.com"]},
                        ["flask-nginx-cache-my-app.conf", DEFAULT_80, "flask-nginx-limits-my-app.conf", "flask-nginx-log-my-app.conf", UPG, "flask-nginx-upstream-my-app.conf", "my-app.conf"]),
    "no-default-server-no-ipv6": ({"flask_nginx_default_server": False, "flask_nginx_ipv6": "never"}, [CACHE, LIM, LOG, UPG, UP, SITE]),
    # The certificate and key are made for the test (see `rendered`).
    "tls-selfsigned-hsts": ({
        "flask_nginx_tls_mode": "selfsigned",
        "flask_nginx_https_port": 8443,
        "flask_nginx_hsts": {"enabled": True},
    }, [CACHE, DEFAULT_80, "flask-nginx-default-8443.conf", LIM, LOG, UPG, UP, SITE]),
    "tls-modern": ({"flask_nginx_tls_mode": "selfsigned", "flask_nginx_tls_profile": "modern"},
                   [CACHE, "flask-nginx-default-443.conf", DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    "locations": ({"flask_nginx_locations": [{"path": "/ws/", "websocket": True},
                                             {"path": "= /api/stream", "buffering": False},
                                             {"path": "/api/upload", "client_max_body_size": "200m"}]},
                  [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    "maintenance": ({"flask_nginx_maintenance": True, "flask_nginx_locations": [{"path": "/ws/", "websocket": True}]},
                    [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    # Real client behind trusted proxies; every other name redirects to the canonical host.
    "proxies-canonical": ({"flask_nginx_server_names": ["example.com", "www.example.com"],
                           "flask_nginx_trusted_proxies": ["10.0.0.0/8", "2001:db8::/32"],
                           "flask_nginx_canonical_host": "Example.com", "flask_nginx_rate_limit": {"rate": "20r/s"}},
                          [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE]),
    "proxies-canonical-tls": ({"flask_nginx_server_names": ["example.com", "www.example.com"],
                               "flask_nginx_tls_mode": "selfsigned", "flask_nginx_https_port": 8443,
                               "flask_nginx_trusted_proxies": ["127.0.0.1"], "flask_nginx_canonical_host": "www.example.com"},
                              [CACHE, DEFAULT_80, "flask-nginx-default-8443.conf", LIM, LOG, UPG, UP, SITE]),
    # Served for real by test_request_id_is_taken_from_trusted_proxies_only (their own ports, unbuffered log).
    "live-trusted-loopback": ({"flask_nginx_trusted_proxies": ["127.0.0.1"], "flask_nginx_http_port": 18081,
                               "flask_nginx_default_server": False, "flask_nginx_ipv6": "never",
                               "flask_nginx_logs": {"buffer": ""}}, [CACHE, LIM, LOG, UPG, UP, SITE]),
    "live-untrusted": ({"flask_nginx_trusted_proxies": ["10.0.0.0/8"], "flask_nginx_http_port": 18082,
                        "flask_nginx_default_server": False, "flask_nginx_ipv6": "never",
                        "flask_nginx_logs": {"buffer": ""}}, [CACHE, LIM, LOG, UPG, UP, SITE]),
    # Asked by the role's health check for real (test_the_health_check_asks_under_the_canonical_host).
    "live-canonical": ({"flask_nginx_server_names": ["example.com", "www.example.com"],
                        "flask_nginx_canonical_host": "www.example.com", "flask_nginx_http_port": 18083,
                        "flask_nginx_default_server": False, "flask_nginx_ipv6": "never",
                        "flask_nginx_extra_config": 'location = /healthz { return 200 "ok"; }'}, [CACHE, LIM, LOG, UPG, UP, SITE]),
    # Logs, request ids, metrics.
    "combined-log-trusted-proxies-metrics": ({"flask_nginx_logs": {"format": "combined"},
                                              "flask_nginx_trusted_proxies": ["10.0.0.0/8", "192.0.2.7", "fd00::/8"],
                                              "flask_nginx_metrics": True}, [CACHE, DEFAULT_80, LIM, LOG, STUB, UPG, UP, SITE]),
    # Access: a URL prefix (the app mounted in the server block of its first name), logins,
    # allowed clients. The live-* ones are served for real, in front of ECHO's upstreams.
    "url-prefix-tls-login": ({"flask_nginx_url_prefix": "/shop", "flask_nginx_server_names": ["tls-prefix.test"],
                              "flask_nginx_tls_mode": "selfsigned", "flask_nginx_hsts": {"enabled": True},
                              "flask_nginx_basic_auth_users": {"editor": "s3cret-Test-pw"},
                              "flask_nginx_client_allow": ["192.0.2.0/24"]},
                             [CACHE, "flask-nginx-default-443.conf", DEFAULT_80, "flask-nginx-front-tls-prefix.test.conf", LIM, LOG,
                              UPG, UP]),
    "live-login": ({**LIVE, "flask_nginx_http_port": 18083, "flask_nginx_gunicorn": {"bind": "127.0.0.1:18190"},
                    "flask_nginx_tls_mode": "acme", "flask_nginx_acme_email": "ops@example.com",
                    "flask_nginx_basic_auth_users": {"editor": "s3cret-Test-pw"},
                    "flask_nginx_locations": [{"path": "/public/", "basic_auth": False},
                                              {"path": "/admin/", "allow": ["10.0.0.0/8"]}]}, [CACHE, LIM, LOG, UPG, UP, SITE]),
    "live-allow": ({**LIVE, "flask_nginx_http_port": 18084, "flask_nginx_gunicorn": {"bind": "127.0.0.1:18190"},
                    "flask_nginx_tls_mode": "acme", "flask_nginx_acme_email": "ops@example.com",
                    "flask_nginx_client_allow": ["10.0.0.0/8", "2001:db8::/32"],
                    # Logins on one location only (the one that says basic_auth: true).
                    "flask_nginx_basic_auth_users": {"editor": "s3cret-Test-pw"},
                    "flask_nginx_locations": [{"path": "/office/", "allow": ["127.0.0.0/8"]}, {"path": "/everyone/", "allow": []},
                                              {"path": "/editors/", "allow": ["127.0.0.0/8"], "basic_auth": True}]},
                   [CACHE, LIM, LOG, UPG, UP, SITE]),
}
# Two apps with prefixes under one name, one port: one server block, both files in it. Checked
# and served together (test_two_apps_with_prefixes_share_one_server_block).
SHARED = {
    f"live-{app}": ({**LIVE, "flask_nginx_app_name": app, "flask_nginx_url_prefix": f"/{app}",
                     "flask_nginx_server_names": ["shared.test"],
                     "flask_nginx_http_port": 18086, "flask_nginx_gunicorn": {"bind": f"127.0.0.1:{port}"},
                     "flask_nginx_locations": [{"path": "/ws/", "websocket": True}, {"path": "= /api/stream", "buffering": False}]},
          [f"flask-nginx-cache-{app}.conf", "flask-nginx-front-shared.test.conf", f"flask-nginx-limits-{app}.conf", f"flask-nginx-log-{app}.conf", UPG,
           f"flask-nginx-upstream-{app}.conf"])
    for app, port in (("shop", 18191), ("blog", 18192))}
# Unbalanced brace: proves that the check below can fail.
BROKEN = {"broken-extra-config": ({"flask_nginx_extra_config": "location /broken {\n    return 200;"}, [CACHE, DEFAULT_80, LIM, LOG, UPG, UP, SITE])}


FRONT, FRONT_TLS = "flask-nginx-front-shared.test.conf", "flask-nginx-front-tls-prefix.test.conf"
# An app's file in a shared server block: beside the cases, in its server block's directory.
MOUNT, MOUNT_TLS = "../../fronts/shared.test/shop.conf", "../../fronts/tls-prefix.test/flaskapp.conf"


def expect(case, file, what, regex, present=True):
    """A fact about the rendered FILE of CASE (regex in multi-line mode; present or absent)."""
    return pytest.param(case, file, regex, present, id=f"{case}-{what}")


EXPECTATIONS = [
    # Behaviour of the defaults.
    expect("defaults", SITE, "site-ansible-managed-first", r"\A#\n# Ansible managed"),
    expect("defaults", SITE, "xff-overwritten", r"^ *proxy_set_header X-Forwarded-For \$remote_addr;$"),
    expect("defaults", SITE, "xff-not-appended", r"proxy_add_x_forwarded_for", present=False),
    expect("defaults", SITE, "proto-from-scheme", r"^ *proxy_set_header X-Forwarded-Proto \$scheme;$"),
    expect("defaults", SITE, "http-1.1", r"^ *proxy_http_version 1\.1;$"),
    expect("defaults", SITE, "connection-cleared", r'^ *proxy_set_header Connection "";$'),
    expect("defaults", UP, "unix-upstream", r"^ *server unix:/run/gunicorn-flaskapp\.sock;$"),
    expect("defaults", UP, "upstream-keepalive", r"^upstream flaskapp_gunicorn \{[^}]*^ *keepalive 32;$"),
    expect("defaults", SITE, "proxy-to-upstream", r"^ *proxy_pass http://flaskapp_gunicorn;$"),
    expect("defaults", SITE, "static-alias", r"^ *location /static/ \{\n *alias /opt/flaskapp/assets/;$"),
    expect("defaults", SITE, "gzip-on", r"^ *gzip on;$"),
    expect("defaults", SITE, "buffered-log", r"^ *access_log \S+ flask_nginx_flaskapp_json buffer=64k flush=5s;$"),
    expect("defaults", SITE, "listen-80", r"^ *listen 80;$"),
    expect("no-default-server-no-ipv6", SITE, "no-ipv6", r"listen \[::\]", present=False),
    expect("defaults", SITE, "no-https", r"\bssl\b", present=False),
    expect("defaults", DEFAULT_80, "default-ansible-managed-first", r"\A#\n# Ansible managed"),
    expect("defaults", DEFAULT_80, "default-server", r"^ *listen 80 default_server;$"),
    expect("defaults", DEFAULT_80, "returns-444", r"^ *return 444;$"),
    # The other cases.
    expect("two-names-port-8081-ipv6", SITE, "names", r"^ *server_name example\.com www\.example\.com;$"),
    expect("two-names-port-8081-ipv6", SITE, "ipv4", r"^ *listen 8081;$"),
    expect("two-names-port-8081-ipv6", SITE, "ipv6", r"^ *listen \[::\]:8081;$"),
    expect("two-names-port-8081-ipv6", "flask-nginx-default-8081.conf", "default-ipv6",
           r"^ *listen \[::\]:8081 default_server;$"),
    expect("capital-names-limits", SITE, "lower-case-names", r"^ *server_name example\.com;$"),
    expect("capital-names-limits", LIM, "req-zone", r"^limit_req_zone \$binary_remote_addr zone=flask_nginx_flaskapp_req:10m rate=20r/s;$"),
    expect("capital-names-limits", SITE, "limit-req", r"^ *limit_req zone=flask_nginx_flaskapp_req burst=40 nodelay;$"),
    expect("capital-names-limits", SITE, "limit-conn", r"^ *limit_conn flask_nginx_flaskapp_conn 10;$"),
    expect("no-gzip-unbuffered-log", SITE, "no-gzip", r"^ *gzip ", present=False),
    expect("no-gzip-unbuffered-log", SITE, "unbuffered", r"^ *access_log \S+ flask_nginx_flaskapp_json;$"),
    expect("extra-config", SITE, "robots", r"^    location = /robots\.txt \{"),
    expect("extra-config", SITE, "header", r"^    add_header X-Content-Type-Options nosniff always;\n\}"),
    expect("dashed-app-name", "flask-nginx-upstream-my-app.conf", "upstream-name", r"^upstream my_app_gunicorn \{$"),
    expect("dashed-app-name", "my-app.conf", "proxy-to-upstream", r"^ *proxy_pass http://my_app_gunicorn;$"),
    expect("dashed-app-name", "flask-nginx-upstream-my-app.conf", "socket", r"^ *server unix:/run/gunicorn-my-app\.sock;$"),
    expect("tls-selfsigned-hsts", SITE, "https", r"^ *listen 8443 ssl( http2)?;$"),
    expect("tls-selfsigned-hsts", SITE, "redirect", r"^ *return 301 https://\$host:8443\$request_uri;$"),
    expect("tls-selfsigned-hsts", SITE, "hsts", r"^ *add_header Strict-Transport-Security \"max-age=\d+\" always;$"),
    expect("tls-selfsigned-hsts", "flask-nginx-default-8443.conf", "reject-unknown-sni",
           r"^ *ssl_reject_handshake on;$"),
    # Review fixes: the default server enforces the profile and refuses unknown Host headers.
    expect("tls-selfsigned-hsts", "flask-nginx-default-8443.conf", "default-intermediate-protocols",
           r"^ *ssl_protocols TLSv1\.2 TLSv1\.3;$"),
    expect("tls-selfsigned-hsts", "flask-nginx-default-8443.conf", "default-intermediate-ciphers",
           r"^ *ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
           r"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;$"),
    expect("tls-selfsigned-hsts", "flask-nginx-default-8443.conf", "default-444-for-unknown-host", r"^ *return 444;$"),
    expect("tls-modern", "flask-nginx-default-443.conf", "default-modern-protocols", r"^ *ssl_protocols TLSv1\.3;$"),
    expect("tls-modern", SITE, "site-modern-protocols", r"^ *ssl_protocols TLSv1\.3;$"),
    expect("defaults", SITE, "backup-files-any-case", r"^ *location ~\* \(~\|\\\.\(bak\|"),
    expect("defaults", SITE, "static-no-symlinks", r"^ *disable_symlinks on from=/opt/flaskapp/assets;$"),
    expect("defaults", SITE, "static-hashed-for-good",
           r'^ *location ~ "\^/static/\S*\[0-9a-f\]\{8,\}\S*" \{\n *expires max;\n *\}\n *\}$'),
    expect("defaults", SITE, "next-upstream-timeout", r"^ *proxy_next_upstream_timeout 10s;$"),
    expect("defaults", SITE, "client-header-timeout", r"^ *client_header_timeout 10s;$"),
    expect("defaults", SITE, "client-body-timeout", r"^ *client_body_timeout 30s;$"),
    expect("defaults", SITE, "request-id-to-gunicorn", r"^ *proxy_set_header X-Request-ID \$flask_nginx_flaskapp_request_id;$"),
    expect("defaults", SITE, "request-id-to-client", r"^ *add_header X-Request-ID \$flask_nginx_flaskapp_request_id always;$"),
    expect("defaults", LOG, "json-escaped", r"^log_format flask_nginx_flaskapp_json escape=json$"),
    expect("defaults", LOG, "no-trusted-proxy", r"^geo \$realip_remote_addr \$flask_nginx_flaskapp_trusted_proxy \{\n *default 0;\n\}$"),
    expect("combined-log-trusted-proxies-metrics", SITE, "combined-log", r"^ *access_log \S+ flask_nginx_flaskapp_combined buffer"),
    expect("combined-log-trusted-proxies-metrics", LOG, "trusted-proxy", r"^ *10\.0\.0\.0/8 1;$"),
    expect("combined-log-trusted-proxies-metrics", STUB, "stub-status-loopback", r"^ *listen 127\.0\.0\.1:8089;$"),
    expect("locations", SITE, "ws-upgrade", r"location /ws/ \{\n(.*\n)*? *proxy_set_header Upgrade \$flask_nginx_upgrade;\n"
           r" *proxy_set_header Connection \$flask_nginx_connection_upgrade;"),
    expect("locations", SITE, "ws-read-timeout", r"location /ws/ \{\n(.*\n)*? *proxy_read_timeout 3600s;"),
    expect("locations", SITE, "stream-unbuffered", r"location = /api/stream \{\n(.*\n)*? *proxy_buffering off;"),
    expect("locations", SITE, "upload-body-size", r"location /api/upload \{\n(.*\n)*? *client_max_body_size 200m;"),
    expect("locations", UPG, "upgrade-map", r"^map \$http_upgrade \$flask_nginx_connection_upgrade \{"),
    expect("defaults", SITE, "no-maintenance", r"return 503;", present=False),
    expect("maintenance", SITE, "maintenance-503", r"location / \{\n *# Maintenance.*\n *return 503;\n *\}"),
    expect("maintenance", SITE, "maintenance-ws-503", r"location /ws/ \{\n *# Maintenance.*\n *return 503;\n *\}"),
    expect("maintenance", SITE, "maintenance-page", r"^ *error_page 503 /flask-nginx-errors/maintenance\.html;$"),
    expect("maintenance", SITE, "retry-after", r"^ *add_header Retry-After 300 always;$"),
    expect("maintenance", SITE, "static-still-served", r"^ *location /static/ \{\n *alias "),
    # flask_nginx_trusted_proxies: the real client from X-Forwarded-For, only from those networks;
    # what Nginx passes on is still $remote_addr (the real client, after real_ip).
    expect("defaults", SITE, "no-real-ip", r"real_ip|set_real_ip_from", present=False),
    expect("proxies-canonical", SITE, "real-ip-from-each-network",
           r"^ *set_real_ip_from 10\.0\.0\.0/8;\n *set_real_ip_from 2001:db8::/32;\n *real_ip_header X-Forwarded-For;\n"
           r" *real_ip_recursive on;$"),
    expect("proxies-canonical", SITE, "real-ip-xff-still-overwritten", r"^ *proxy_set_header X-Forwarded-For \$remote_addr;$"),
    expect("proxies-canonical-tls", SITE, "real-ip-in-both-servers",
           r"listen 8443 ssl[^}]*set_real_ip_from 127\.0\.0\.1;(.*\n)*? *listen 80;\n(.*\n)*? *set_real_ip_from 127\.0\.0\.1;"),
    # flask_nginx_canonical_host: 301 to the canonical name, path and query kept; ACME challenges excepted.
    expect("defaults", SITE, "no-canonical-redirect", r"flask_nginx_host_uri", present=False),
    expect("proxies-canonical", SITE, "canonical-http",
           r'^ *if \(\$flask_nginx_host_uri !~ "\^\(example\\\.com \|\[\^ \]\+ /\\\.well-known/acme-challenge/\)"\) \{\n'
           r" *return 301 http://example\.com\$request_uri;$"),
    expect("proxies-canonical-tls", SITE, "canonical-https", r"^ *return 301 https://www\.example\.com:8443\$request_uri;$"),
    expect("proxies-canonical-tls", SITE, "canonical-http-goes-to-https",
           r"listen 80;\n(.*\n)*? *return 301 https://www\.example\.com:8443\$request_uri;$"),
    *(expect("defaults", SITE, f"blank-{header}", rf'^ *proxy_set_header {header} "";$')
      for header in ("X-Forwarded-Prefix", "X-Forwarded-Server", "X-Original-URL", "X-Forwarded-Ssl")),
    # Access: without settings, no login, no allow list, no health location of its own.
    expect("defaults", SITE, "no-login", r"auth_basic", present=False),
    expect("defaults", SITE, "no-allow-list", r"^ *(allow|deny) ", present=False),
    expect("defaults", SITE, "no-health-location", r"location = /healthz", present=False),
    expect("defaults", SITE, "authorization-passed", r"proxy_set_header Authorization", present=False),
    # flask_nginx_url_prefix: the server block of the first name includes the app's file, which
    # holds everything under the prefix; nothing else is served.
    expect("live-shop", FRONT, "front-names", r"^ *server_name shared\.test;$"),
    expect("live-shop", FRONT, "front-includes-apps", r"^ *include \S+/fronts/shared\.test/\*\.conf;$"),
    expect("live-shop", FRONT, "front-404-elsewhere", r"^    location / \{\n        return 404;\n    \}\n\}$"),
    expect("url-prefix-tls-login", FRONT_TLS, "front-https-404-elsewhere",
           r"^    location / \{\n        return 404;\n    \}\n\}$"),
    expect("live-shop", FRONT, "front-no-app-log", r"flask_nginx_shop|shop_gunicorn", present=False),
    expect("live-shop", FRONT, "front-error-pages", r"^ *location \^~ /flask-nginx-errors/ \{\n *internal;"),
    expect("live-shop", MOUNT, "redirect-to-slash", r"^location = /shop \{\n *return 301 /shop/\$is_args\$args;\n\}"),
    expect("live-shop", MOUNT, "app-location", r"^location \^~ /shop/ \{\n(.*\n)*? *access_log \S+ flask_nginx_shop_json;"),
    expect("live-shop", MOUNT, "static-under-prefix", r"^    location /shop/static/ \{\n *alias \S+/assets-live-shop/;$"),
    expect("live-shop", MOUNT, "locations-under-prefix", r"^    location /shop/ws/ \{\n(.*\n)*? *proxy_set_header Upgrade"),
    expect("live-shop", MOUNT, "exact-location-under-prefix", r"^    location = /shop/api/stream \{\n(.*\n)*? *proxy_buffering off;"),
    expect("live-shop", MOUNT, "proxied-under-prefix", r"^    location /shop/ \{\n *proxy_pass http://shop_gunicorn;$"),
    expect("live-shop", MOUNT, "prefix-sent", r'^ *proxy_set_header X-Forwarded-Prefix "/shop";$'),
    expect("live-shop", MOUNT, "no-server-only-directive", r"client_header_timeout|/flask-nginx-errors/ \{", present=False),
    expect("url-prefix-tls-login", FRONT_TLS, "front-tls", r"^ *listen 443 ssl( http2)?;\n(.*\n)*? *ssl_certificate "),
    expect("url-prefix-tls-login", FRONT_TLS, "front-redirects-http", r"^ *return 301 https://\$host\$request_uri;$"),
    expect("url-prefix-tls-login", MOUNT_TLS, "hsts-again-in-app", r"^    add_header Strict-Transport-Security \"max-age="),
    expect("url-prefix-tls-login", MOUNT_TLS, "site-login",
           r'^    auth_basic "flaskapp";\n    auth_basic_user_file \S+/url-prefix-tls-login\.htpasswd;$'),
    expect("url-prefix-tls-login", MOUNT_TLS, "site-allow-list", r"^    allow 192\.0\.2\.0/24;\n    deny all;$"),
    expect("url-prefix-tls-login", MOUNT_TLS, "health-open-to-loopback",
           r"^    location = /shop/healthz \{\n *auth_basic off;\n *allow 127\.0\.0\.1;\n *allow ::1;\n"
           r" *allow 192\.0\.2\.0/24;\n *deny all;\n *proxy_pass "),
    expect("url-prefix-tls-login", MOUNT_TLS, "password-kept-from-app",
           r'^    location /shop/ \{\n(.*\n)*? *proxy_set_header Authorization "";$'),
    # flask_nginx_basic_auth_users and the locations' basic_auth and allow.
    expect("live-login", SITE, "acme-open", r"location \^~ /\.well-known/acme-challenge/ \{\n(.*\n)*? *auth_basic off;\n"
           r" *allow all;\n *\}"),
    expect("live-login", SITE, "location-without-login", r"^    location /public/ \{\n *auth_basic off;$"),
    expect("live-login", SITE, "location-allow-list", r"^    location /admin/ \{\n *allow 10\.0\.0\.0/8;\n *deny all;$"),
    expect("live-allow", SITE, "location-open-to-all", r"^    location /everyone/ \{\n *allow all;$"),
    expect("live-allow", SITE, "login-on-one-location",
           r'^    location /editors/ \{\n *auth_basic "flaskapp";\n *auth_basic_user_file \S+;\n *allow 127\.0\.0\.0/8;\n'
           r' *deny all;$'),
    expect("live-allow", SITE, "no-site-login", r'^    auth_basic "', present=False),
]


@pytest.fixture(scope="module")
def nginx():
    binary = nginx_binary()
    if not binary:
        pytest.skip("no nginx binary (set FLASK_NGINX_NGINX or run scripts/bootstrap.sh)")
    return binary


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, nginx):
    """Plan and render every case (one made-up host each) in one run; return the output directory."""
    out = tmp_path_factory.mktemp("rendered")
    cert, key = out / "cert.pem", out / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    hosts = {name: {"flask_nginx_app_src": SAMPLE_APP, **variables}
             for name, (variables, _) in (CASES | BROKEN | SHARED).items()}
    # Files nginx -t must open on this machine; a shared server block's apps beside the cases,
    # in a directory per server block.
    entries = {"tls": {"cert": str(cert), "key": str(key)},
               "access": {"mount_dir": str(out) + "/fronts/{{ flask_nginx_server_names | first | lower }}",
                          "password_file": str(out) + "/{{ inventory_hostname }}.htpasswd"}}
    facts = {
        "__flask_nginx_access_log": str(out) + "/{{ inventory_hostname }}.access.log",
        "__flask_nginx_error_log": str(out) + "/{{ inventory_hostname }}.error.log",
        "__flask_nginx_cache_dir": str(out) + "/{{ inventory_hostname }}.cache",
        # The challenges of the live ACME cases from a directory of this machine (after the plan,
        # whose rules keep a real host's webroot out of /tmp).
        "flask_nginx_acme_webroot": "{{ '" + str(out) + "/acme-webroot' if inventory_hostname in ['live-login', 'live-allow']"
                                    " else '/var/www/flask-nginx-acme' }}",
        # Static files of the live cases from a directory of this machine.
        "__flask_nginx_assets": "{{ '" + str(out) + "/assets-' ~ inventory_hostname if inventory_hostname.startswith('live-')"
                                " else flask_nginx_app_root ~ '/assets' }}",
    }
    result, _ = plan(out, {"all": {"hosts": hosts}}, facts, plan_entries=entries)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    return out / "rendered"


def host_order(directory):
    """The rendered files of DIRECTORY in the order Nginx reads them on a host: conf.d (log formats,
    limits, upstreams) before the sites (a shared server block's name sorts before them)."""
    files = sorted(directory.glob("*.conf"))
    conf_d = [f for f in files if re.match(r"flask-nginx-(upgrade-map|log-|limits-|upstream-|stub-status)", f.name)]
    return conf_d + [f for f in files if f not in conf_d]


@pytest.mark.parametrize("case", CASES | BROKEN | SHARED)
def test_role_renders_its_files(rendered, case):
    assert sorted(path.name for path in (rendered / case).iterdir()) == (CASES | BROKEN | SHARED)[case][1]


@pytest.mark.parametrize("case", CASES)
def test_nginx_accepts(nginx, rendered, tmp_path, case):
    result = nginx_t(nginx, host_order(rendered / case), tmp_path)
    assert result.returncode == 0, f"nginx -t rejected case {case}:\n{result.stderr}"
    assert "[warn]" not in result.stderr, result.stderr


def test_no_upstream_keepalive_leaves_out_the_keepalive_directives(rendered):
    off = (rendered / "upstream-keepalive-off" / UP).read_text()
    assert "keepalive" not in off, off
    assert "keepalive 32;" in (rendered / "defaults" / UP).read_text()


def test_two_apps_share_a_host(nginx, rendered, tmp_path):
    result = nginx_t(nginx, [rendered / "defaults" / "*.conf", rendered / "dashed-app-name" / "flask-nginx-log-my-app.conf",
                              rendered / "dashed-app-name" / "my-app.conf",
                              rendered / "dashed-app-name" / "flask-nginx-upstream-my-app.conf"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


@pytest.mark.parametrize("case", BROKEN)
def test_nginx_rejects(nginx, rendered, tmp_path, case):
    result = nginx_t(nginx, [rendered / case / "*.conf"], tmp_path)
    assert result.returncode != 0, f"nginx -t accepted case {case}:\n{result.stderr}"
    assert "unexpected end of file" in result.stderr, result.stderr


@pytest.mark.parametrize("case", CASES)
def test_without_cache_paths_no_cache_directive_is_rendered(rendered, case):
    """flask_nginx_cache_paths is [] by default: no zone, no proxy_cache*, no X-Cache-Status
    (tests/test_cache.py renders and serves the cache). A streamed location keeps its
    `proxy_cache off;`, which turns caching off, against a proxy_cache in flask_nginx_extra_config."""
    found = [f"{path.name}: {line.strip()}" for path in sorted((rendered / case).iterdir())
             for line in path.read_text().splitlines()
             if re.match(r"\s*(proxy_cache(?! off;)|proxy_no_cache|add_header X-Cache-Status|map \S*cache)", line)]
    assert not found, found


@pytest.mark.parametrize(("case", "file", "regex", "present"), EXPECTATIONS)
def test_rendering(rendered, case, file, regex, present):
    text = (rendered / case / file).read_text()
    assert bool(re.search(regex, text, re.M)) == present, \
        f"/{regex}/ {'missing from' if present else 'found in'} {case}/{file}:\n{text}"


@pytest.mark.parametrize(("case", "port", "sent", "kept"), [
    ("live-trusted-loopback", 18081, "abc-123.X_y", True),
    ("live-trusted-loopback", 18081, "not a valid id!", False),
    ("live-untrusted", 18082, "abc-123.X_y", False),
], ids=["trusted-valid", "trusted-malformed", "untrusted"])
def test_request_id_is_taken_from_trusted_proxies_only(nginx, rendered, tmp_path, case, port, sent, kept):
    """A real Nginx on the rendered files (no app behind it: 502): the id in the response and in
    the JSON access-log line is the client's only from a trusted proxy and when well formed."""
    server = live_nginx(nginx, rendered, tmp_path, case, port)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/info", headers={"X-Request-ID": sent})
        response = connection.getresponse()
        response.read()
        got = response.getheader("X-Request-ID")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (got == sent) == kept, got
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", got or ""), got
    entry = json.loads((rendered.parent / f"{case}.access.log").read_text().splitlines()[-1])
    assert entry["request_id"] == got and entry["uri"] == "/api/info", entry


def live_nginx(nginx, rendered, tmp_path, case, port, includes=None):
    """A real Nginx on CASE's rendered files (or INCLUDES), answering on PORT; returns the process.
    Run by root, its workers are root too: as `nobody`, Nginx's default, they could not reach the
    test's files (static files, a password file, the cache) in pytest's private directories."""
    conf = main_conf(includes or host_order(rendered / case), tmp_path)
    settings = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    server = subprocess.Popen([nginx, "-p", tmp_path, "-e", tmp_path / "error.log", "-c", conf, "-g", settings],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            assert server.poll() is None, server.stderr.read().decode()
            time.sleep(0.1)
    raise AssertionError("nginx did not answer")


def test_the_health_check_asks_under_the_canonical_host(nginx, rendered, tmp_path):
    """files/healthcheck.py with the arguments tasks/health.yml gives it (the plan's URL, name and
    status), against a real Nginx on the rendered site whose other names redirect: it asks under
    the canonical host and gets the answer, where the first server name gets the 301."""
    planned = json.loads((rendered / "live-canonical.json").read_text())
    assert planned["health_name"] == "www.example.com", planned["health_name"]
    server = live_nginx(nginx, rendered, tmp_path, "live-canonical", 18083)
    try:
        answers = {name: subprocess.run([sys.executable, ROLE / "files" / "healthcheck.py", planned["health_url"], name,
                                         str(planned["health_status"])], capture_output=True, text=True, timeout=30)
                   for name in (planned["health_name"], "example.com")}
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert answers["www.example.com"].returncode == 0, answers["www.example.com"].stdout
    assert answers["example.com"].returncode != 0 and "-> 301" in answers["example.com"].stdout, answers["example.com"].stdout


@pytest.mark.parametrize(("case", "ports", "protocols"), [
    ("tls-modern", [443, 80], {443: "TLSv1.3"}),
    ("tls-selfsigned-hsts", [8443, 80], {8443: "TLSv1.2 TLSv1.3"}),
    ("two-names-port-8081-ipv6", [8081], {}),
    ("no-default-server-no-ipv6", [80], {}),
])
def test_another_app_s_ports_and_protocols_are_read_from_its_rendered_site(rendered, case, ports, protocols):
    """The plan refuses an app whose TLS profile or IPv6 setting differs from another app's on a
    shared port, from the lines the probe reads of that app's site (the pattern of tasks/plan.yml)."""
    match = re.search(r"'match': '([^']*)'", (ROLE / "tasks" / "plan.yml").read_text()).group(1)
    lines = [line for line in (rendered / case / SITE).read_text().splitlines() if re.search(match, line)]
    ipv6 = json.loads((rendered / f"{case}.json").read_text())["listen_ipv6"]  # `auto`: as this machine has it
    assert plan_module().site_settings(lines) == {"app": "flaskapp", "ports": dict.fromkeys(ports, ipv6),
                                                  "protocols": protocols}, lines


NOT_UTF8 = "(not UTF-8)"


@pytest.mark.parametrize(("target", "agent", "referer", "logged"), [
    (b"/api/\xff\xfe?q=\xc3", b"ua\xff\x80", b"http://x/", {"uri": NOT_UTF8, "user_agent": NOT_UTF8}),
    (b"/api/info", b"ok", b"http://x/\xed\xa0\x80", {"referrer": NOT_UTF8}),  # an encoded surrogate
    (b"/api/\xc0\xaf", b"ok", b"http://x/", {"uri": NOT_UTF8}),  # an overlong "/"
    ("/api/caf\u00e9?\u65e5".encode(), "Ren\u00e9".encode(), b"http://x/", {"uri": "/api/caf\u00e9?\u65e5",
                                                                            "user_agent": "Ren\u00e9"}),
], ids=["invalid-bytes", "surrogate", "overlong", "valid-utf8"])
def test_every_access_log_line_decodes_as_utf8_json_whatever_a_client_sends(nginx, rendered, tmp_path,
                                                                             target, agent, referer, logged):
    """Bytes that are not UTF-8 in what a client sends (request line, User-Agent, Referer)
    must not make its log line undecodable: strict UTF-8, then JSON, for every line."""
    log = rendered.parent / "live-untrusted.access.log"
    before = log.read_bytes().count(b"\n") if log.exists() else 0
    server = live_nginx(nginx, rendered, tmp_path, "live-untrusted", 18082)
    try:
        with socket.create_connection(("127.0.0.1", 18082), timeout=10) as sock:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nUser-Agent: " + agent
                         + b"\r\nReferer: " + referer + b"\r\nConnection: close\r\n\r\n")
            while sock.recv(65536):
                pass
    finally:
        server.terminate()
        server.wait(timeout=10)
    lines = log.read_bytes().splitlines()[before:]
    assert len(lines) == 1, lines
    entry = json.loads(lines[0].decode("utf-8"))  # strict: no surrogateescape, no replacement
    for field, value in logged.items():
        assert entry[field] == value, entry


# ---------------------------------------------------------------------------
# Access, served for real: a URL prefix, logins, allowed clients, in front of small upstreams.
# ---------------------------------------------------------------------------

class _Echo(BaseHTTPRequestHandler):
    """An upstream that answers with what reached it: its port, the path, the headers."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps({"port": self.server.server_port, "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def echo():
    """The upstreams the live access cases point at (flask_nginx_gunicorn.bind)."""
    servers = [ThreadingHTTPServer(("127.0.0.1", port), _Echo) for port in (18190, 18191, 18192)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield
    for server in servers:
        server.shutdown()
        server.server_close()


def fetch(port, path, host="localhost", login=None, headers=None):
    """GET PATH from the Nginx on PORT; returns (status, headers, body as text)."""
    sent = {"Host": host, **(headers or {})}
    if login:
        sent["Authorization"] = "Basic " + base64.b64encode(":".join(login).encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def upstream_saw(port, path, **kwargs):
    status, _, body = fetch(port, path, **kwargs)
    assert status == 200, (path, status, body)
    return json.loads(body)


@pytest.fixture
def served(nginx, rendered, tmp_path, echo):
    """Serve a live case (or several, with INCLUDES) for the test's requests."""
    started = []

    def serve(case, port, includes=None, static=None):
        for name, text in (static or {}).items():
            target = rendered.parent / f"assets-{case}" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        here = tmp_path / f"nginx-{len(started)}"
        here.mkdir()
        started.append(live_nginx(nginx, rendered, here, case, port, includes))

    yield serve
    for server in started:
        server.terminate()
        server.wait(timeout=10)


LOGIN = ("editor", "s3cret-Test-pw")


def write_password_file(rendered, case, users):
    """The password file of CASE as the role writes it (flask_nginx_htpasswd, on the host)."""
    module = role_module("flask_nginx_htpasswd")
    (rendered.parent / f"{case}.htpasswd").write_text(module.content(users, None))


def challenge(rendered, token):
    path = rendered.parent / "acme-webroot" / ".well-known" / "acme-challenge" / token
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{token}.key-authorization")
    return f"/.well-known/acme-challenge/{token}"


def test_the_whole_site_needs_a_login_except_the_health_path_and_acme_challenges(served, rendered):
    write_password_file(rendered, "live-login", dict([LOGIN]))
    token = challenge(rendered, "login-token")
    served("live-login", 18083, static={"site.css": "body {}"})
    status, headers, _ = fetch(18083, "/api/info")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="flaskapp"', headers
    assert fetch(18083, "/api/info", login=("editor", "wrong"))[0] == 401
    assert fetch(18083, "/api/info", login=("nobody", LOGIN[1]))[0] == 401
    seen = upstream_saw(18083, "/api/info?q=1", login=LOGIN)
    assert seen["path"] == "/api/info?q=1"
    assert "authorization" not in seen["headers"], seen  # Nginx checked it: the app never sees the password
    assert fetch(18083, "/static/site.css")[0] == 401  # static files are the site too
    assert fetch(18083, "/static/site.css", login=LOGIN)[2] == "body {}"
    assert upstream_saw(18083, "/healthz")["path"] == "/healthz"
    assert fetch(18083, token)[2] == "login-token.key-authorization"


def test_a_location_can_be_open_or_allowed_to_some_clients_only_within_a_login_site(served, rendered):
    write_password_file(rendered, "live-login", dict([LOGIN]))
    served("live-login", 18083)
    # basic_auth: false - the app's own Authorization (a token) reaches it.
    seen = upstream_saw(18083, "/public/x", headers={"Authorization": "Bearer app-token"})
    assert seen["headers"]["authorization"] == "Bearer app-token"
    # allow: [10.0.0.0/8] - from 127.0.0.1, refused with or without a login.
    assert fetch(18083, "/admin/x", login=LOGIN)[0] == 403
    assert fetch(18083, "/admin/x")[0] == 403  # allow comes before the login: no prompt
    assert upstream_saw(18083, "/healthz")["path"] == "/healthz"  # the health check still works


def test_only_allowed_clients_reach_the_site_and_loopback_its_health_path(served, rendered):
    token = challenge(rendered, "allow-token")
    served("live-allow", 18084, static={"site.css": "body {}"})
    assert fetch(18084, "/api/info")[0] == 403  # 127.0.0.1 is not in 10.0.0.0/8 or 2001:db8::/32
    assert fetch(18084, "/static/site.css")[0] == 403
    assert upstream_saw(18084, "/healthz")["path"] == "/healthz"  # loopback: the role's own health check
    assert upstream_saw(18084, "/office/x")["path"] == "/office/x"  # allow: [127.0.0.0/8]
    assert upstream_saw(18084, "/everyone/x")["path"] == "/everyone/x"  # allow: []
    assert fetch(18084, token)[2] == "allow-token.key-authorization"  # the CA is never refused


def test_with_scope_locations_only_the_locations_that_ask_need_a_login(served, rendered):
    write_password_file(rendered, "live-allow", dict([LOGIN]))
    served("live-allow", 18084)
    assert upstream_saw(18084, "/office/x")["path"] == "/office/x"  # no login asked
    assert fetch(18084, "/editors/x")[0] == 401
    assert upstream_saw(18084, "/editors/x", login=LOGIN)["path"] == "/editors/x"
    assert upstream_saw(18084, "/healthz")["path"] == "/healthz"


def test_a_client_cannot_set_the_prefix_the_app_sees(served):
    """Nginx sends no prefix of the client's: no X-Forwarded-Prefix without flask_nginx_url_prefix,
    and no SCRIPT_NAME header (Gunicorn would take it; Nginx drops names with '_')."""
    served("live-allow", 18084)
    seen = upstream_saw(18084, "/office/x", headers={"X-Forwarded-Prefix": "/evil", "SCRIPT_NAME": "/evil"})
    assert "x-forwarded-prefix" not in seen["headers"] and "script_name" not in seen["headers"], seen


def shared_includes(rendered):
    """Both apps' files: the shared server block and upstream, log and limits of each (the
    WebSocket map, the same for every app, once)."""
    return [*(rendered / "live-blog" / f"flask-nginx-{kind}-blog.conf" for kind in ("log", "limits", "upstream")),
            *host_order(rendered / "live-shop")]


def test_two_apps_with_prefixes_share_one_server_block(nginx, rendered, tmp_path):
    """Each app writes the server block of their name alike, and Nginx takes both apps in it
    with no warning (no second server block for one name)."""
    front = "flask-nginx-front-shared.test.conf"
    assert (rendered / "live-shop" / front).read_text() == (rendered / "live-blog" / front).read_text()
    mounts = rendered.parent / "fronts" / "shared.test"
    assert sorted(path.name for path in mounts.iterdir()) == ["blog.conf", "shop.conf"]
    result = nginx_t(nginx, shared_includes(rendered), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_two_server_blocks_for_one_name_are_what_nginx_warns_about(nginx, rendered, tmp_path):
    """Why apps without a prefix cannot share a name (nginx_apply.yml refuses this warning)."""
    result = nginx_t(nginx, [rendered / "defaults" / "*.conf", rendered / "no-gzip-unbuffered-log" / SITE], tmp_path)
    assert 'conflicting server name "localhost"' in result.stderr, result.stderr


def test_each_app_under_its_prefix_gets_its_own_paths_and_the_prefix_from_nginx(served, rendered):
    served("live-shop", 18086, includes=shared_includes(rendered))
    for app, port in (("shop", 18191), ("blog", 18192)):
        seen = upstream_saw(18086, f"/{app}/api/info?x=1", host="shared.test", headers={"X-Forwarded-Prefix": "/evil"})
        # The whole path: Gunicorn takes SCRIPT_NAME (the prefix, from the unit) off PATH_INFO.
        assert (seen["port"], seen["path"]) == (port, f"/{app}/api/info?x=1"), seen
        assert seen["headers"]["x-forwarded-prefix"] == f"/{app}", seen  # never the client's
        assert upstream_saw(18086, f"/{app}/healthz", host="shared.test")["port"] == port
    status, headers, _ = fetch(18086, "/shop?x=1", host="shared.test")
    assert status == 301 and headers["location"].endswith("/shop/?x=1"), headers
    assert fetch(18086, "/", host="shared.test")[0] == 404
    assert fetch(18086, "/shopping/", host="shared.test")[0] == 404
    assert fetch(18086, "/static/app.css", host="shared.test")[0] == 404


def test_static_files_of_an_app_with_a_prefix_are_served_from_disk_under_it(served, rendered):
    for app in ("shop", "blog"):
        for name in ("app.css", "css/app.3f9a2c1d.css"):
            target = rendered.parent / f"assets-live-{app}" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"/* {app} {name} */")
    served("live-shop", 18086, includes=shared_includes(rendered))
    for app in ("shop", "blog"):
        status, headers, body = fetch(18086, f"/{app}/static/app.css", host="shared.test")
        assert (status, body) == (200, f"/* {app} app.css */"), (status, body)
        assert headers["cache-control"] == "max-age=604800", headers  # flask_nginx_static_expires
        # A content hash in the name: cached for good, from the same directory.
        status, headers, body = fetch(18086, f"/{app}/static/css/app.3f9a2c1d.css", host="shared.test")
        assert (status, body) == (200, f"/* {app} css/app.3f9a2c1d.css */"), (status, body)
        assert headers["cache-control"] == "max-age=315360000", headers
    assert fetch(18086, "/shop/static/missing.css", host="shared.test")[0] == 404
    assert fetch(18086, "/shop/static/missing.3f9a2c1d.css", host="shared.test")[0] == 404
