"""default scenario, second app "blog": HTTPS with a self-signed certificate,
independent of the "shop" app on the same host."""
import pytest

BLOG = "blog.test"


def test_two_apps_have_separate_users_units_sockets_and_sites(host):
    for app in ("shop", "blog"):
        assert host.user(app).exists
        assert host.service(f"gunicorn-{app}.service").is_running
        assert host.file(f"/run/gunicorn-{app}.sock").is_socket
        assert host.file(f"/etc/nginx/sites-enabled/{app}.conf").is_symlink
        assert host.file(f"/opt/{app}/current").is_symlink


def test_blog_is_served_over_https_with_http2_and_hsts(host, http):
    status, headers, body = http.get("/api/info", "-k", "--http2", host_header=BLOG, scheme="https")
    assert status == 200
    # HTTP/2 was negotiated (ALPN), not HTTP/1.1, which curl falls back to.
    assert host.check_output(f"curl -sk --http2 -o /dev/null -w '%{{http_version}}' "
                             f"--resolve {BLOG}:443:127.0.0.1 https://{BLOG}/api/info") == "2"
    assert headers["strict-transport-security"] == "max-age=63072000"
    info = __import__("json").loads(body)
    assert info["scheme"] == "https" and info["app"] == "blog" and info["version"] == "7"


def test_blog_certificate_is_self_signed_for_its_name(host):
    out = host.check_output(
        f"echo | openssl s_client -connect 127.0.0.1:443 -servername {BLOG} 2>/dev/null"
        " | openssl x509 -noout -subject -issuer -ext subjectAltName")
    assert f"DNS:{BLOG}" in out
    subject = [line for line in out.splitlines() if line.startswith("subject")][0]
    issuer = [line for line in out.splitlines() if line.startswith("issuer")][0]
    assert subject.split("=", 1)[1] == issuer.split("=", 1)[1]


def test_blog_http_redirects_to_https(http):
    status, headers, _ = http.get("/some/page?x=1", host_header=BLOG)
    assert status == 301
    assert headers["location"] == f"https://{BLOG}/some/page?x=1"


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_protocols_below_tls12_are_refused(host, protocol):
    result = host.run(f"echo | openssl s_client -connect 127.0.0.1:443 -servername {BLOG} {protocol} -cipher DEFAULT:@SECLEVEL=0 2>&1")
    assert result.rc != 0 or "Cipher is (NONE)" in result.stdout


def test_tls12_and_tls13_are_accepted(host):
    for protocol in ("-tls1_2", "-tls1_3"):
        host.run_expect([0], f"echo | openssl s_client -connect 127.0.0.1:443 -servername {BLOG} {protocol}")


def test_unknown_name_is_refused_during_the_tls_handshake(host):
    result = host.run("curl -sk --resolve unknown.test:443:127.0.0.1 https://unknown.test/")
    assert result.rc == 35, "expected the handshake to be rejected (ssl_reject_handshake)"


def test_shop_stays_on_http(http):
    assert http.get("/healthz")[0] == 200
