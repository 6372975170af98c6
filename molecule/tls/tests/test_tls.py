"""tls scenario: certificates from a real ACME server (Pebble), real http-01."""
import re
import time
import uuid

import pytest
from flask_nginx_testing import converge, output, remote

testinfra_hosts = ["ansible://flask-nginx-tls-app"]

NAMES = ["shop.test", "www.shop.test"]
# The private ACME CA, trusted by certbot alone (flask_nginx_acme_ca_bundle).
CA = "/etc/flask-nginx/acme-ca.d/shop.pem"
CERTBOT = "/usr/local/lib/flask-nginx/certbot"
PEBBLE_ROOT = "/root/pebble-root.pem"


def pebble():
    return remote("flask-nginx-tls-pebble")


def lb2():
    """The second load balancer: it copies the issuer's (this host's) certificate."""
    return remote("flask-nginx-tls-lb2")


def served_certificate(host, name="shop.test"):
    return host.check_output(
        f"echo | openssl s_client -connect 127.0.0.1:443 -servername {name} 2>/dev/null"
        " | openssl x509 -noout -serial -issuer -ext subjectAltName")


def serial(host):
    return re.search(r"serial=(\w+)", served_certificate(host)).group(1)


def nginx_pid(host):
    return host.check_output("systemctl show -p MainPID --value nginx")


@pytest.fixture(scope="module")
def pebble_root(host):
    """Pebble's (random, per run) root CA, fetched from its management API."""
    host.run_expect([0], f"curl -fsS --cacert {CA} https://pebble:15000/roots/0 -o {PEBBLE_ROOT}")
    return PEBBLE_ROOT


def test_certificate_is_issued_by_pebble_for_exactly_the_configured_names(host, pebble_root):
    text = served_certificate(host)
    sans = sorted(re.findall(r"DNS:([^,\s]+)", text))
    assert sans == sorted(NAMES)
    assert "Pebble" in text.split("issuer=")[1].splitlines()[0]
    # The whole chain verifies against Pebble's root for each name.
    for name in NAMES:
        host.run_expect([0], f"curl -fsS --cacert {pebble_root} --resolve {name}:443:127.0.0.1 https://{name}/healthz")


def test_https_serves_the_app_and_reports_https(host, pebble_root):
    out = host.check_output(f"curl -fsS --cacert {pebble_root} --resolve shop.test:443:127.0.0.1 https://shop.test/api/info")
    assert '"scheme":"https"' in out.replace(" ", "")


def test_certificate_key_is_ecdsa(host):
    out = host.check_output("echo | openssl s_client -connect 127.0.0.1:443 -servername shop.test 2>/dev/null"
                            " | openssl x509 -noout -text")
    assert "id-ecPublicKey" in out


def test_http_redirects_to_https(host):
    out = host.check_output("curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: shop.test' http://127.0.0.1/a?b=1")
    assert out == "301 https://shop.test/a?b=1"


def test_challenge_path_is_reachable_over_http(host):
    host.run_expect([0], "mkdir -p /var/www/flask-nginx-acme/.well-known/acme-challenge"
                         " && printf probe-token > /var/www/flask-nginx-acme/.well-known/acme-challenge/probe")
    out = host.check_output("curl -sS -w ' %{http_code}' -H 'Host: shop.test' http://127.0.0.1/.well-known/acme-challenge/probe")
    host.run("rm -f /var/www/flask-nginx-acme/.well-known/acme-challenge/probe")
    assert out == "probe-token 200"


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_protocols_below_tls12_are_refused(host, protocol):
    result = host.run("echo | openssl s_client -connect 127.0.0.1:443 -servername shop.test "
                      f"{protocol} -cipher DEFAULT:@SECLEVEL=0 2>&1")
    assert result.rc != 0 or "Cipher is (NONE)" in result.stdout


def test_renewal_timer_is_enabled_and_scheduled(host):
    """The timer runs certbot.service; what a renewal does (the deploy hook reloads Nginx, the
    renewal asks Pebble through the private CA) is observed by the renewal tests below."""
    assert host.service("certbot.timer").is_enabled
    assert host.service("certbot.timer").is_running
    assert host.check_output("systemctl show -p NextElapseUSecRealtime --value certbot.timer") not in ("", "n/a")


def test_the_other_load_balancer_serves_the_issuers_certificate_and_never_asks_the_ca(host, pebble_root):
    other = lb2()
    assert serial(other) == serial(host)
    sans = sorted(re.findall(r"DNS:([^,\s]+)", served_certificate(other)))
    assert sans == sorted(NAMES)
    # One certificate for the fleet: no certbot lineage, account or CA trust for the shop on lb2.
    for path in ("/etc/letsencrypt/renewal/shop.conf", "/etc/letsencrypt/live/shop", "/etc/letsencrypt/accounts", CA):
        assert not other.file(path).exists, path
    # One file, chain then key, written at once; root's alone.
    copy = other.file("/etc/flask-nginx/shop/tls/certificate-and-key.pem")
    assert (copy.user, copy.mode) == ("root", 0o600)
    assert int(other.check_output("grep -c 'BEGIN' /etc/flask-nginx/shop/tls/certificate-and-key.pem")) >= 2
    other.run_expect([0], "cd /etc/flask-nginx/shop/tls && test \"$(openssl x509 -in certificate-and-key.pem -noout -pubkey)\""
                          " = \"$(openssl pkey -in certificate-and-key.pem -pubout)\"")
    assert not other.file("/etc/flask-nginx/shop/tls/privkey.pem").exists
    other.run_expect([0], f"cat > {PEBBLE_ROOT} <<'EOF'\n{host.file(pebble_root).content_string}EOF")
    out = other.check_output(f"curl -fsS --cacert {PEBBLE_ROOT} --resolve shop.test:443:127.0.0.1 https://shop.test/api/info")
    assert '"scheme":"https"' in out.replace(" ", "")


def test_a_challenge_that_reaches_the_other_load_balancer_is_answered_by_the_issuer(host):
    """The CA may connect to either load balancer (Docker's resolver, Pebble's too, has both
    under shop.test); lb2 has no tokens and asks the issuer for them."""
    token = uuid.uuid4().hex
    webroot = "/var/www/flask-nginx-acme/.well-known/acme-challenge"
    host.run_expect([0], f"printf %s-answer {token} > {webroot}/{token}")
    ca = pebble()
    try:
        address = ca.check_output("getent hosts flask-nginx-tls-lb2").split()[0]
        out = ca.check_output(f"curl -sS -w ' %{{http_code}}' -H 'Host: www.shop.test' "
                              f"http://{address}/.well-known/acme-challenge/{token}")
        assert out == f"{token}-answer 200"
        missing = ca.check_output(f"curl -sS -o /dev/null -w '%{{http_code}}' -H 'Host: shop.test' "
                                  f"http://{address}/.well-known/acme-challenge/no-such-token")
        assert missing == "404"
    finally:
        host.run(f"rm -f {webroot}/{token}")
    # During issuance, how many of Pebble's validations landed on lb2 (informative: it depends on the resolver's order).
    passed = lb2().run("grep -c '/.well-known/acme-challenge/' /var/log/nginx/shop/access.log").stdout.strip()
    print(f"challenge requests lb2 passed to the issuer: {passed}")


def test_forced_renewal_serves_a_new_certificate_without_restarting_nginx(host):
    before, pid = serial(host), nginx_pid(host)
    host.run_expect([0], f"{CERTBOT} renew --force-renewal --cert-name shop --no-random-sleep-on-renew")
    for _ in range(20):
        if serial(host) != before:
            break
        time.sleep(0.5)
    assert serial(host) != before
    assert nginx_pid(host) == pid, "Nginx was restarted, not reloaded"


def test_the_renewed_certificate_reaches_the_other_load_balancer_on_the_next_run(host):
    """test_forced_renewal_... renewed on the issuer; the next run of the role copies it."""
    other = lb2()
    assert serial(other) != serial(host)
    result = converge()
    assert result.returncode == 0, output(result)
    assert serial(other) == serial(host)
    assert re.search(r"flask-nginx-tls-app\s*:.*changed=0", result.stdout), output(result)


def test_second_converge_requests_no_certificate(host):
    archive = "ls /etc/letsencrypt/archive/shop/ | grep -c '^cert'"
    count = host.check_output(archive)
    result = converge()
    assert result.returncode == 0, output(result)
    assert re.search(r"flask-nginx-tls-app\s*:.*changed=0", result.stdout), output(result)
    assert re.search(r"flask-nginx-tls-lb2\s*:.*changed=0", result.stdout), output(result)
    assert host.check_output(archive) == count


def test_adding_a_name_expands_the_certificate(host, pebble_root):
    result = converge("-e", '{"flask_nginx_server_names": ["shop.test", "www.shop.test", "new.shop.test"]}')
    assert result.returncode == 0, output(result)
    sans = sorted(re.findall(r"DNS:([^,\s]+)", served_certificate(host, "new.shop.test")))
    assert sans == sorted(NAMES + ["new.shop.test"])
    host.run_expect([0], f"curl -fsS --cacert {pebble_root} --resolve new.shop.test:443:127.0.0.1 https://new.shop.test/healthz")


def public_key_algorithm(host, name="shop.test"):
    return re.search(r"Public Key Algorithm: (\S+)", host.check_output(
        f"echo | openssl s_client -connect 127.0.0.1:443 -servername {name} 2>/dev/null"
        " | openssl x509 -noout -text")).group(1)


def test_another_key_type_orders_the_certificate_again(host):
    """Only the key type changes (the names stay): a new certificate with an RSA key is
    ordered and served. The next test's last run goes back to ECDSA the same way."""
    before = serial(host)
    result = converge("-e", '{"flask_nginx_server_names": ["shop.test", "www.shop.test", "new.shop.test"], '
                            '"flask_nginx_acme_key_type": "rsa"}')
    assert result.returncode == 0, output(result)
    assert serial(host) != before
    assert public_key_algorithm(host) == "rsaEncryption"
    assert "key_type = rsa" in host.file("/etc/letsencrypt/renewal/shop.conf").content_string


def test_acme_failure_fails_clearly_and_keeps_serving(host, pebble_root):
    """With the CA stopped, a run that needs a certificate fails, naming the
    names and the CA; a new site keeps serving HTTP, and a site with a
    certificate keeps serving HTTPS with it."""
    ca = pebble()
    before = serial(host)
    ca.run_expect([0], "systemctl stop pebble")
    try:
        # A second app on this host, HTTP only so far, asks for its first certificate.
        result = converge("-e", '{"flask_nginx_app_name": "blog", "flask_nginx_server_names": ["blog.test"], '
                          '"flask_nginx_gunicorn": {"port": 8001}}')
        text = output(result, tail=None)
        assert result.returncode != 0
        assert "gave no certificate for blog.test" in text, output(result)
        assert "https://pebble:14000/dir" in text
        assert host.check_output("curl -sS -H 'Host: blog.test' http://127.0.0.1/healthz").startswith('{"status":"ok"')

        # The shop drops new.shop.test again: that needs a new certificate.
        result = converge()
        text = output(result, tail=None)
        assert result.returncode != 0
        assert "gave no certificate for shop.test, www.shop.test" in text, output(result)
        assert serial(host) == before
        for name in NAMES:
            host.run_expect([0], f"curl -fsS --cacert {pebble_root} --resolve {name}:443:127.0.0.1 https://{name}/healthz")
        host.run_expect([0], "nginx -t")
    finally:
        ca.run_expect([0], "systemctl start pebble")
        ca.run_expect([0], "for i in $(seq 30); do curl -sk https://127.0.0.1:14000/dir >/dev/null && exit 0; sleep 0.5; done; exit 1")
    # A restarted Pebble forgets its accounts and makes a new root (Let's
    # Encrypt does neither): register afresh, then the same run succeeds.
    host.run_expect([0], "rm -rf /etc/letsencrypt/accounts")
    result = converge()
    assert result.returncode == 0, output(result)
    sans = sorted(re.findall(r"DNS:([^,\s]+)", served_certificate(host)))
    assert sans == sorted(NAMES)
    assert public_key_algorithm(host) == "id-ecPublicKey"  # the default key type again
    host.run_expect([0], f"curl -fsS --cacert {CA} https://pebble:15000/roots/0 -o {PEBBLE_ROOT}")
    host.run_expect([0], f"curl -fsS --cacert {PEBBLE_ROOT} --resolve shop.test:443:127.0.0.1 https://shop.test/healthz")


def test_private_acme_ca_is_trusted_by_certbot_alone(host):
    """The host's trust store does not know Pebble's CA: curl and certbot run by hand refuse
    Pebble. certbot.timer's own service (through the wrapper of its drop-in) trusts it: with
    the certificate due, it renews against Pebble and the hook puts the new one live."""
    assert host.run("curl -fsS -o /dev/null https://pebble:14000/dir").rc != 0
    plain = host.run("/usr/bin/certbot show_account --server https://pebble:14000/dir")
    said = (plain.stdout + plain.stderr).lower()
    assert plain.rc != 0 and ("certificate verify failed" in said or "ssl" in said), plain.stdout + plain.stderr
    before = serial(host)
    conf = "/etc/letsencrypt/renewal/shop.conf"
    host.run_expect([0], f"sed -i '1i renew_before_expiry = 100000 days' {conf}")  # due now
    try:
        started = host.run("systemctl start certbot.service")
    finally:
        host.run(f"sed -i '/^renew_before_expiry = /d' {conf}")
    assert started.rc == 0, host.check_output("journalctl -u certbot.service -n 30 --no-pager")
    assert host.check_output("systemctl show -p Result --value certbot.service") == "success"
    for _ in range(20):
        if serial(host) != before:
            break
        time.sleep(0.5)
    assert serial(host) != before, "certbot.service renewed nothing"


def test_renewal_whose_nginx_check_fails_is_loud_and_retried(host):
    """A renewal while Nginx's configuration is broken: the reload is refused and left
    pending, with an error in the journal; certbot's service (what the timer runs) then
    fails instead of looking fine, and puts the certificate live on its first run after
    Nginx accepts its configuration again. (certbot itself exits 0 when a hook fails.)"""
    before = serial(host)
    host.run_expect([0], "echo 'this is not nginx;' > /etc/nginx/conf.d/zz-broken.conf")
    try:
        host.run_expect([0], f"{CERTBOT} renew --force-renewal --cert-name shop --no-random-sleep-on-renew")
        assert host.file("/var/lib/flask-nginx/nginx-reload-pending").exists
        assert "a renewed certificate is NOT live" in host.check_output("journalctl -t flask-nginx --no-pager -o cat")
        assert serial(host) == before  # Nginx kept its configuration and the previous certificate
        assert host.run("systemctl start certbot.service").rc != 0
        assert host.check_output("systemctl show -p Result --value certbot.service") != "success"
    finally:
        host.run("rm -f /etc/nginx/conf.d/zz-broken.conf; systemctl reset-failed certbot.service")
    host.run_expect([0], "systemctl start certbot.service")
    for _ in range(20):
        if serial(host) != before:
            break
        time.sleep(0.5)
    assert serial(host) != before
    assert not host.file("/var/lib/flask-nginx/nginx-reload-pending").exists
