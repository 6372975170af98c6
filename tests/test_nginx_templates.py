"""The role's Nginx templates, rendered by Ansible for several inputs, pass the real `nginx -t`."""
import re
import subprocess

import pytest

from conftest import ansible_playbook, nginx_binary

ROBOTS = 'location = /robots.txt { return 200 "User-agent: *\\nDisallow:\\n"; }'

# name -> variables of the case (over the role's defaults and vars).
CASES = {
    "defaults": {},
    "two-names-port-8081-ipv6": {
        "flask_nginx_server_names": ["example.com", "www.example.com"],
        "flask_nginx_http_port": 8081,
        "__flask_nginx_listen_ipv6": True,
    },
    "tcp-upstream": {"flask_nginx_gunicorn_bind": "10.0.0.5:8000"},
    "no-gzip-unbuffered-log": {"flask_nginx_gzip": False, "flask_nginx_access_log_buffer": ""},
    "extra-config": {"flask_nginx_extra_config": f"{ROBOTS}\nadd_header X-Content-Type-Options nosniff always;"},
    "dashed-app-name": {"flask_nginx_app_name": "my-app"},
}
# Unbalanced brace: proves that the check below can fail.
BROKEN = {"broken-extra-config": {"flask_nginx_extra_config": "location /broken {\n    return 200;"}}


def expect(case, file, what, regex, present=True):
    """A fact about the rendering of CASE (regex in multi-line mode; present or absent)."""
    return pytest.param(case, file, regex, present, id=f"{case}-{file}-{what}")


EXPECTATIONS = [
    # Behaviour of the defaults.
    expect("defaults", "site", "ansible-managed-first", r"\A#\n# Ansible managed"),
    expect("defaults", "site", "xff-overwritten", r"^ *proxy_set_header X-Forwarded-For \$remote_addr;$"),
    expect("defaults", "site", "xff-not-appended", r"proxy_add_x_forwarded_for", present=False),
    expect("defaults", "site", "proto-from-scheme", r"^ *proxy_set_header X-Forwarded-Proto \$scheme;$"),
    expect("defaults", "site", "http-1.1", r"^ *proxy_http_version 1\.1;$"),
    expect("defaults", "site", "connection-cleared", r'^ *proxy_set_header Connection "";$'),
    expect("defaults", "site", "unix-upstream", r"^ *server unix:/run/gunicorn-flaskapp\.sock;$"),
    expect("defaults", "site", "upstream-keepalive", r"^upstream flaskapp_gunicorn \{[^}]*^ *keepalive 32;$"),
    expect("defaults", "site", "proxy-to-upstream", r"^ *proxy_pass http://flaskapp_gunicorn;$"),
    expect("defaults", "site", "static-alias",
           r"^ *location /static/ \{\n *alias /opt/flaskapp/current/app/static/;$"),
    expect("defaults", "site", "gzip-on", r"^ *gzip on;$"),
    expect("defaults", "site", "buffered-log", r"^ *access_log \S+ combined buffer=64k flush=5s;$"),
    expect("defaults", "site", "listen-80", r"^ *listen 80;$"),
    expect("defaults", "site", "no-ipv6", r"listen \[::\]", present=False),
    expect("defaults", "default-server", "ansible-managed-first", r"\A#\n# Ansible managed"),
    expect("defaults", "default-server", "default-server", r"^ *listen 80 default_server;$"),
    expect("defaults", "default-server", "returns-444", r"^ *return 444;$"),
    # The other cases.
    expect("two-names-port-8081-ipv6", "site", "names", r"^ *server_name example\.com www\.example\.com;$"),
    expect("two-names-port-8081-ipv6", "site", "ipv4", r"^ *listen 8081;$"),
    expect("two-names-port-8081-ipv6", "site", "ipv6", r"^ *listen \[::\]:8081;$"),
    expect("two-names-port-8081-ipv6", "default-server", "ipv6", r"^ *listen \[::\]:8081 default_server;$"),
    expect("tcp-upstream", "site", "tcp", r"^ *server 10\.0\.0\.5:8000;$"),
    expect("tcp-upstream", "site", "no-socket", r"unix:", present=False),
    expect("no-gzip-unbuffered-log", "site", "no-gzip", r"^ *gzip ", present=False),
    expect("no-gzip-unbuffered-log", "site", "unbuffered", r"^ *access_log \S+ combined;$"),
    expect("extra-config", "site", "robots", r"^    location = /robots\.txt \{"),
    expect("extra-config", "site", "header", r"^    add_header X-Content-Type-Options nosniff always;\n\}"),
    expect("dashed-app-name", "site", "upstream-name", r"^upstream my_app_gunicorn \{$"),
    expect("dashed-app-name", "site", "proxy-to-upstream", r"^ *proxy_pass http://my_app_gunicorn;$"),
    expect("dashed-app-name", "site", "socket", r"^ *server unix:/run/gunicorn-my-app\.sock;$"),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Render every case in one ansible-playbook run; return the output directory."""
    out = tmp_path_factory.mktemp("rendered")
    cases = [
        {"name": name, "vars": {
            "__flask_nginx_listen_ipv6": False,
            "__flask_nginx_access_log": str(out / f"{name}.access.log"),
            "__flask_nginx_error_log": str(out / f"{name}.error.log"),
            **variables,
        }}
        for name, variables in {**CASES, **BROKEN}.items()
    ]
    result = ansible_playbook("render.yml", {"render_dir": str(out), "render_cases": cases}, out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def nginx_t(case_dir, tmp_path):
    """Run `nginx -t` on a minimal main configuration that includes the case's files."""
    nginx = nginx_binary()
    if not nginx:
        pytest.skip("no nginx binary (set FLASK_NGINX_NGINX or run scripts/bootstrap.sh)")
    temp_paths = "".join(f"    {kind}_temp_path {tmp_path}/{kind};\n"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"error_log {tmp_path}/error.log;\n"
        f"pid {tmp_path}/nginx.pid;\n"
        "events {}\n"
        "http {\n"
        "    types { text/html html; text/css css; }\n"
        f"    access_log {tmp_path}/access.log;\n"
        f"{temp_paths}"
        f"    include {case_dir}/*.conf;\n"
        "}\n"
    )
    return subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("case", CASES)
def test_nginx_accepts(rendered, tmp_path, case):
    result = nginx_t(rendered / case, tmp_path)
    assert result.returncode == 0, f"nginx -t rejected case {case}:\n{result.stderr}"


@pytest.mark.parametrize("case", BROKEN)
def test_nginx_rejects(rendered, tmp_path, case):
    result = nginx_t(rendered / case, tmp_path)
    assert result.returncode != 0, f"nginx -t accepted case {case}:\n{result.stderr}"
    assert "unexpected end of file" in result.stderr, result.stderr


@pytest.mark.parametrize(("case", "file", "regex", "present"), EXPECTATIONS)
def test_rendering(rendered, case, file, regex, present):
    text = (rendered / case / f"{file}.conf").read_text()
    found = re.search(regex, text, re.M)
    assert bool(found) == present, f"/{regex}/ {'missing from' if present else 'found in'} {case}/{file}.conf:\n{text}"
