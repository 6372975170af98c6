"""tls scenario, dns-01 through a DNS provider's API: an app `cf` whose wildcard certificate
certbot's Cloudflare plugin (Debian's python3-certbot-dns-cloudflare) orders from Pebble.

The plugin talks HTTPS to api.cloudflare.com, which in this scenario is a stand-in on the Pebble
container (molecule/tls/cloudflare_api.py, a certificate of the test CA): it checks the API token
and writes each TXT record the plugin creates into bind9's zone cf.test, where Pebble looks.
Everything on the app host is what a user's host runs: the package, the credentials file,
certbot's calls, its renewal configuration and timer. What stays untested is Cloudflare itself:
its real answers, token scopes and propagation times.

Its variables, the token among them, are in the file prepare.yml wrote (-e @FILE)."""
import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml
from flask_nginx_testing import converge, output, remote
from test_tls_dns01 import ROOT, dns_answers, served

testinfra_hosts = ["ansible://flask-nginx-tls-app"]

VARS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "cloudflare-vars.yml"
INI = "/etc/letsencrypt/flask-nginx/cf-cloudflare.ini"
CA = "/etc/flask-nginx/acme-ca.d/shop.pem"
CALLS = "/var/log/cloudflare-api-calls.jsonl"
SUBDOMAINS = ["a.cf.test", "b.cf.test"]


@pytest.fixture(scope="module")
def token():
    return yaml.safe_load(VARS.read_text())["flask_nginx_acme_dns_credentials"]["api_token"]


def calls():
    """The stand-in's calls so far: (method, path without the zone and record ids, authorized)."""
    text = remote("flask-nginx-tls-pebble").file(CALLS).content_string if remote("flask-nginx-tls-pebble").file(CALLS).exists else ""
    out = []
    for line in text.splitlines():
        call = json.loads(line)
        path = re.sub(r"/zones/[0-9a-f]{32}/dns_records(/[0-9a-f]{32})?", lambda m: "/zones/ID/dns_records" + ("/ID" if m.group(1) else ""),
                      call["path"])
        out.append((call["method"], path, call["authorized"]))
    return out


@pytest.fixture(scope="module")
def cf(host):
    """The Cloudflare app's first run, at -vvv (the token must not show even there)."""
    before = len(calls())
    result = converge("-e", f"@{VARS}", "-vvv")
    if not host.file(ROOT).exists:  # Pebble's root of this run, for curl (test_tls_dns01 fetches it too)
        host.run_expect([0], f"curl -fsS --cacert {CA} https://pebble:15000/roots/0 -o {ROOT}")
        remote("flask-nginx-tls-lb2").run_expect([0], f"cat > {ROOT} <<'EOF'\n{host.file(ROOT).content_string}EOF")
    return result, calls()[before:]


def test_a_wildcard_certificate_is_ordered_through_the_providers_api_and_served_by_both_load_balancers(host, cf):
    result, made = cf
    assert result.returncode == 0, output(result)
    for lb in (host, remote("flask-nginx-tls-lb2")):
        for name in SUBDOMAINS:
            sans = sorted(re.findall(r"DNS:([^,\s]+)", served(lb, name)))
            assert sans == ["*.cf.test", "cf.test"], (lb.backend.get_hostname(), name, sans)
            out = lb.check_output(f"curl -fsS --cacert {ROOT} --resolve {name}:443:127.0.0.1 https://{name}/api/info")
            assert '"app":"cf"' in out.replace(" ", ""), out
    # Through the API, with the token: the zone looked up, a record for each of the two names
    # (cf.test and *.cf.test share _acme-challenge.cf.test) made, then removed.
    assert all(authorized for _, _, authorized in made), made
    assert ("GET", "/client/v4/zones", True) in made
    assert [c for c in made if c[0] == "POST"] == [("POST", "/client/v4/zones/ID/dns_records", True)] * 2, made
    assert [c for c in made if c[0] == "DELETE"] == [("DELETE", "/client/v4/zones/ID/dns_records/ID", True)] * 2, made
    ca = remote("flask-nginx-tls-pebble")
    assert dns_answers(ca, "cf.test", "SOA") == 1
    assert dns_answers(ca, "_acme-challenge.cf.test", "TXT") == 0


def test_the_api_token_is_root_only_on_the_issuer_and_never_in_the_output(host, cf, token):
    result, _ = cf
    assert token not in output(result, tail=None)
    ini = host.file(INI)
    assert (ini.user, ini.group, ini.mode) == ("root", "root", 0o600)
    assert host.file(os.path.dirname(INI)).mode == 0o700
    assert f"dns_cloudflare_api_token = {token}" in ini.content_string  # the check above looks for the real value
    # certbot got the file's path, never the token: it is on no command line the run showed.
    assert "--dns-cloudflare-credentials=" + INI in output(result, tail=None)
    lb2 = remote("flask-nginx-tls-lb2")
    assert not lb2.file(INI).exists
    # The plugin is on the host that asks the CA only.
    assert host.package("python3-certbot-dns-cloudflare").is_installed
    assert not lb2.package("python3-certbot-dns-cloudflare").is_installed


def test_a_rerun_of_the_provider_app_changes_nothing(host, cf):
    before = len(calls())
    result = converge("-e", f"@{VARS}")
    assert result.returncode == 0, output(result)
    for name in ("flask-nginx-tls-app", "flask-nginx-tls-lb2"):
        assert re.search(rf"{name}\s*:.*changed=0", result.stdout), output(result)
    assert len(calls()) == before  # nothing ordered, nothing asked of the provider


def test_renewal_uses_the_providers_plugin_and_its_file(host, cf):
    renewal = host.file("/etc/letsencrypt/renewal/cf.conf").content_string
    assert "authenticator = dns-cloudflare" in renewal and f"dns_cloudflare_credentials = {INI}" in renewal
    before_calls, before = len(calls()), served(host, "a.cf.test")
    # As certbot.timer's service runs it: the wrapper, trusting the app's CA.
    host.run_expect([0], "/usr/local/lib/flask-nginx/certbot renew --force-renewal --cert-name cf --no-random-sleep-on-renew")
    for _ in range(20):  # the deploy hook reloads Nginx
        if served(host, "a.cf.test") != before:
            break
        time.sleep(0.5)
    assert served(host, "a.cf.test") != before
    assert [c for c in calls()[before_calls:] if c[0] == "POST"] == [("POST", "/client/v4/zones/ID/dns_records", True)] * 2


def test_a_token_the_provider_refuses_fails_the_order_and_the_certificate_in_place_keeps_serving(host, cf, token, tmp_path):
    """Last in this file: the app is left with the refused token."""
    before = served(host, "a.cf.test")
    bad_token = "Rejected" + token[8:][::-1]
    bad = tmp_path / "bad-token.yml"
    bad.write_text(yaml.safe_dump({"flask_nginx_acme_dns_credentials": {"api_token": bad_token},
                                   # A name more: the certificate must be ordered again.
                                   "flask_nginx_server_names": ["cf.test", "*.cf.test", "*.a.cf.test"]}))
    bad.chmod(0o600)
    start = len(calls())
    result = converge("-e", f"@{VARS}", "-e", f"@{bad}")
    assert result.returncode != 0, output(result)
    text = output(result, tail=None)
    assert "Invalid access token" in text and "9109" in text, output(result)
    assert bad_token not in text and token not in text
    made = calls()[start:]
    assert made and not any(authorized for _, _, authorized in made), made
    # The certificate in place, and the site, as before.
    assert served(host, "a.cf.test") == before
    out = host.check_output(f"curl -fsS --cacert {ROOT} --resolve a.cf.test:443:127.0.0.1 https://a.cf.test/api/info")
    assert '"app":"cf"' in out.replace(" ", ""), out
