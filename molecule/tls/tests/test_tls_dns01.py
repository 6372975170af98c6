"""tls scenario, dns-01: a wildcard certificate by TSIG-signed RFC 2136 updates into the
scenario's bind9 (on the Pebble host, Pebble's resolver), for an app `wild` beside the shop.
Its variables, the TSIG secret among them, are in the file prepare.yml wrote (-e @FILE)."""
import os
import re
import shlex
import time
from pathlib import Path

import pytest
import yaml
from flask_nginx_testing import converge, output, remote

testinfra_hosts = ["ansible://flask-nginx-tls-app"]

VARS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "dns01-vars.yml"
CA = "/etc/flask-nginx/acme-ca.d/shop.pem"
ROOT = "/root/pebble-root.pem"
INI = "/etc/letsencrypt/flask-nginx/wild-rfc2136.ini"
SUBDOMAINS = ["a.wild.test", "b.wild.test"]


def served(host, name):
    return host.check_output(f"echo | openssl s_client -connect 127.0.0.1:443 -servername {name} 2>/dev/null"
                             " | openssl x509 -noout -serial -ext subjectAltName")


@pytest.fixture(scope="module")
def secret():
    return yaml.safe_load(VARS.read_text())["flask_nginx_acme_dns_tsig_secret"]


@pytest.fixture(scope="module")
def wild(host):
    """The dns-01 app's first run, at -vvv (the secret must not show even there)."""
    result = converge("-e", f"@{VARS}", "-vvv")
    # Pebble's root of this run, for both load balancers' curl.
    host.run_expect([0], f"curl -fsS --cacert {CA} https://pebble:15000/roots/0 -o {ROOT}")
    remote("flask-nginx-tls-lb2").run_expect([0], f"cat > {ROOT} <<'EOF'\n{host.file(ROOT).content_string}EOF")
    return result


# A DNS query (RFC 1035) to bind9 on 127.0.0.1 from the host's own Python: the number of
# answers for NAME and TYPE.
DNS_QUERY = r"""
import random, socket, struct, sys
name, qtype = sys.argv[1], {"TXT": 16, "SOA": 6}[sys.argv[2]]
query = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
query += struct.pack(">HH", qtype, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(5)
sock.sendto(query, ("127.0.0.1", 53))
print(struct.unpack(">HHHH", sock.recv(4096)[:8])[3])
"""


def dns_answers(host, name, qtype):
    return int(host.check_output(f"python3 -c {shlex.quote(DNS_QUERY)} {name} {qtype}"))


def test_a_wildcard_certificate_is_issued_by_dns01_and_served_for_two_subdomains(host, wild):
    assert wild.returncode == 0, output(wild)
    for lb in (host, remote("flask-nginx-tls-lb2")):
        for name in SUBDOMAINS:
            sans = sorted(re.findall(r"DNS:([^,\s]+)", served(lb, name)))
            assert sans == ["*.wild.test", "wild.test"], (lb.backend.get_hostname(), name, sans)
            out = lb.check_output(f"curl -fsS --cacert {ROOT} --resolve {name}:443:127.0.0.1 https://{name}/api/info")
            assert '"app":"wild"' in out.replace(" ", ""), out
    renewal = host.file("/etc/letsencrypt/renewal/wild.conf").content_string
    assert "authenticator = dns-rfc2136" in renewal and f"dns_rfc2136_credentials = {INI}" in renewal
    # certbot removed its TXT records after the validation: the zone's server has none
    # (the same query finds the zone's SOA record, so it can see a record that is there).
    ca = remote("flask-nginx-tls-pebble")
    assert dns_answers(ca, "wild.test", "SOA") == 1
    assert dns_answers(ca, "_acme-challenge.wild.test", "TXT") == 0


def test_the_tsig_secret_is_root_only_on_the_issuer_and_never_in_the_output(host, wild, secret):
    assert secret not in output(wild, tail=None)
    ini = host.file(INI)
    assert (ini.user, ini.mode) == ("root", 0o600)
    assert host.file(os.path.dirname(INI)).mode == 0o700
    assert f"dns_rfc2136_secret = {secret}" in ini.content_string  # the check above looks for the real value
    assert not remote("flask-nginx-tls-lb2").file(INI).exists


def test_a_rerun_of_the_dns01_app_changes_nothing(host, wild):
    result = converge("-e", f"@{VARS}")
    assert result.returncode == 0, output(result)
    for name in ("flask-nginx-tls-app", "flask-nginx-tls-lb2"):
        assert re.search(rf"{name}\s*:.*changed=0", result.stdout), output(result)


def test_renewal_uses_the_same_plugin(host, wild):
    before = served(host, "a.wild.test")
    host.run_expect([0], "/usr/local/lib/flask-nginx/certbot renew --force-renewal --cert-name wild --no-random-sleep-on-renew")
    for _ in range(20):  # the deploy hook reloads Nginx
        if served(host, "a.wild.test") != before:
            break
        time.sleep(0.5)
    assert served(host, "a.wild.test") != before
