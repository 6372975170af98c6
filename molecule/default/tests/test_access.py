"""default scenario: who reaches what. "plain" (knows nothing about the role) is served under the
URL prefix /plain, in the server block of plain.test, to clients of this host alone; "blog" asks
for a login on /admin/ and lets only the office network into /internal/."""
import shlex

import pytest

PLAIN, BLOG = "plain.test", "blog.test"
EDITOR = ("editor", "Blog-Editor-Molecule-pw")  # molecule/default/blog.yml


def blog(http, path, *curl_args):
    return http.get(path, "-k", *curl_args, host_header=BLOG, scheme="https")


def test_an_app_under_a_prefix_sees_its_own_paths_and_builds_prefixed_links(http):
    """Gunicorn's SCRIPT_NAME (from the unit) takes the prefix off the path and url_for puts it
    back; the app needs no ProxyFix for it. X-Forwarded-Prefix comes from Nginx, never the client."""
    seen = http.json("/plain/where?x=1", "-H", "X-Forwarded-Prefix: /evil", host_header=PLAIN)
    assert seen == {"script_root": "/plain", "path": "/where", "self": "/plain/where",
                    "static": "/plain/static/plain.css", "forwarded_prefix": "/plain"}, seen


def test_gunicorn_of_an_app_with_a_prefix_gets_it_as_script_name(host):
    environment = host.check_output("systemctl show -p Environment --value gunicorn-plain.service")
    assert "SCRIPT_NAME=/plain" in environment.split(), environment
    assert "SCRIPT_NAME" not in host.check_output("systemctl show -p Environment --value gunicorn-shop.service")


def test_the_prefix_without_its_slash_redirects_to_it(http):
    status, headers, _ = http.get("/plain?x=1", host_header=PLAIN)
    assert status == 301 and headers["location"] == "http://plain.test/plain/?x=1", headers


@pytest.mark.parametrize("path", ["/", "/where", "/healthz", "/static/plain.css", "/plainish/where"])
def test_nothing_outside_the_prefix_is_served(http, path):
    status, _, body = http.get(path, host_header=PLAIN)
    assert status == 404 and "<center>nginx</center>" in body, (status, body)


def test_static_files_of_an_app_under_a_prefix_come_from_nginx(host, http):
    status, headers, body = http.get("/plain/static/plain.css", host_header=PLAIN)
    assert status == 200 and body.startswith("/* plain */"), (status, body)
    assert "max-age" in headers.get("cache-control", ""), headers


def test_an_app_with_a_prefix_lives_in_the_server_block_of_its_first_name(host):
    front = host.file("/etc/nginx/sites-enabled/flask-nginx-front-plain.test.conf")
    assert front.is_symlink and front.linked_to == "/etc/nginx/sites-available/flask-nginx-front-plain.test.conf"
    assert host.file("/etc/nginx/flask-nginx/fronts/plain.test/plain.conf").contains("location ^~ /plain/ {")
    assert not host.file("/etc/nginx/sites-enabled/plain.conf").exists
    assert not host.file("/etc/nginx/sites-available/plain.conf").exists


def own_address(host):
    """This host's address on its network (not loopback): a client Nginx sees as another host."""
    result = host.run("python3 -c " + shlex.quote(
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('192.0.2.1', 9)); "
        "print(s.getsockname()[0])"))
    if result.rc != 0 or result.stdout.strip().startswith("127."):
        pytest.skip("the host has no address besides loopback")
    return result.stdout.strip()


@pytest.mark.parametrize("path", ["/plain/where", "/plain/healthz", "/plain/static/plain.css"])
def test_a_client_outside_the_allow_list_is_refused(host, path):
    """flask_nginx_client_allow: [127.0.0.0/8, ::1]: a request from the host's own network address
    gets 403, the health path too (loopback alone is let in there besides the list)."""
    address = own_address(host)
    result = host.run(f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 10 --resolve {PLAIN}:80:{address} "
                      f"http://{PLAIN}{path}")
    assert result.stdout == "403", (address, result.stdout, result.stderr)


def test_a_client_in_the_allow_list_is_served(http):
    assert http.get("/plain/where", host_header=PLAIN)[0] == 200
    assert http.get("/plain/healthz", host_header=PLAIN)[0] == 200


def test_a_location_with_a_login_asks_for_it(http):
    status, headers, _ = blog(http, "/admin/")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="blog"', headers
    assert blog(http, "/admin/", "-u", f"{EDITOR[0]}:wrong")[0] == 401


def test_the_right_login_reaches_the_app(http):
    """The blog has no /admin/ page: its own 404 (Flask's, not Nginx's) shows the request got through."""
    status, _, body = blog(http, "/admin/", "-u", ":".join(EDITOR))
    assert status == 404 and "<center>nginx</center>" not in body and "Not Found" in body, (status, body)


def test_the_rest_of_a_site_with_login_locations_needs_none(http):
    assert blog(http, "/api/info")[0] == 200
    assert blog(http, "/healthz")[0] == 200


def test_a_location_allowed_to_another_network_refuses_this_host(http):
    status, _, body = blog(http, "/internal/")
    assert status == 403 and "<center>nginx</center>" in body, (status, body)


def test_the_password_file_holds_hashes_readable_by_nginx_alone(host):
    path = host.file("/etc/nginx/flask-nginx/blog.htpasswd")
    assert (path.mode, path.user, path.group) == (0o640, "root", "www-data")
    lines = [line for line in path.content_string.splitlines() if not line.startswith("#")]
    assert len(lines) == 1 and lines[0].startswith("editor:$6$"), lines
    # Nginx's crypt(3) takes the hash: the login above works; the password is nowhere in Nginx's files.
    found = host.run(f"grep -rlF {shlex.quote(EDITOR[1])} /etc/nginx /etc/flask-nginx")
    assert found.rc == 1 and not found.stdout, found.stdout


def test_no_password_file_is_left_for_an_app_without_logins(host):
    for app in ("shop", "plain"):
        assert not host.file(f"/etc/nginx/flask-nginx/{app}.htpasswd").exists


def test_nginx_serves_no_name_twice(host):
    """The shared server block and the sites together: nginx -t has no conflicting server name."""
    result = host.run("nginx -t")
    assert result.rc == 0 and "conflicting server name" not in result.stderr, result.stderr

