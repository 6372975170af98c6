"""tls scenario, second part: ACME pre-flight and retries, trusted proxies, canonical
host, and a testssl.sh scan of both TLS profiles. Runs after test_tls.py."""
import json
import re
import time
import uuid
from pathlib import Path

import pytest
from flask_nginx_testing import converge, output, remote
from machine_share import shared

testinfra_hosts = ["ansible://flask-nginx-tls-app"]

NAMES = ["shop.test", "www.shop.test"]
GATE = "https://pebble:14001/dir"  # ca_gate.py in front of Pebble, from test_transient_ca_errors_are_retried on
state = {"extra": {}}


def pebble():
    return remote("flask-nginx-tls-pebble")


def serial(host):
    text = host.check_output("echo | openssl s_client -connect 127.0.0.1:443 -servername shop.test 2>/dev/null"
                             " | openssl x509 -noout -serial")
    return re.search(r"serial=(\w+)", text).group(1)


def pebble_address():
    """The Pebble host's address on the scenario network, as the app host resolves it."""
    return remote("flask-nginx-tls-app").check_output("getent hosts elsewhere.shop.test").split()[0]


def new_orders():
    """Orders Pebble received so far (its log has one `POST /order-plz` line per new order)."""
    return int(pebble().check_output("journalctl -u pebble --no-pager -o cat | grep -c 'order-plz' || true") or 0)


# --- trusted proxies ---------------------------------------------------------------------

def last_client_with(host, marker, seconds=15):
    """The client address of the last access-log line (JSON) whose URI has MARKER, read
    again until there is one: the access log is buffered (flush=5s)."""
    deadline = time.time() + seconds
    while True:
        lines = [line for line in host.file("/var/log/nginx/shop/access.log").content_string.splitlines()
                 if marker in line]
        if lines or time.time() >= deadline:
            return json.loads(lines[-1])["remote_addr"] if lines else ""
        time.sleep(0.5)


def test_from_a_trusted_proxy_the_app_and_the_log_see_the_forwarded_client(host):
    marker = uuid.uuid4().hex
    out = host.check_output(f"curl -fsSk -H 'X-Forwarded-For: 203.0.113.7' --resolve shop.test:443:127.0.0.1 "
                            f"'https://shop.test/api/info?probe={marker}'")
    assert json.loads(out)["client_ip"] == "203.0.113.7"
    assert last_client_with(host, marker) == "203.0.113.7"


def test_from_anyone_else_the_forwarded_header_is_ignored(host):
    marker, address = uuid.uuid4().hex, pebble_address()
    ca = pebble()
    app = ca.check_output("getent hosts flask-nginx-tls-app").split()[0]  # shop.test is lb2's name too
    out = ca.check_output(f"curl -fsSk -H 'X-Forwarded-For: 203.0.113.7' --resolve shop.test:443:{app} "
                          f"'https://shop.test/api/info?probe={marker}'")
    assert json.loads(out)["client_ip"] == address
    assert last_client_with(host, marker) == address


# --- canonical host ------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://www.shop.test/a/b?c=1&d=2", "https://www.shop.test/a/b?c=1&d=2"])
def test_other_names_redirect_to_the_canonical_host_with_path_and_query(host, url):
    out = host.check_output(f"curl -sSk -o /dev/null -w '%{{http_code}} %{{redirect_url}}' "
                            f"--resolve www.shop.test:80:127.0.0.1 --resolve www.shop.test:443:127.0.0.1 '{url}'")
    assert out == "301 https://shop.test/a/b?c=1&d=2"


def test_the_canonical_host_is_served_and_challenges_are_answered_under_every_name(host):
    assert host.check_output("curl -sSk -o /dev/null -w '%{http_code}' --resolve shop.test:443:127.0.0.1 "
                             "https://shop.test/healthz") == "200"
    host.run_expect([0], "mkdir -p /var/www/flask-nginx-acme/.well-known/acme-challenge"
                         " && printf probe-token > /var/www/flask-nginx-acme/.well-known/acme-challenge/probe2")
    try:
        out = host.check_output("curl -sS -w ' %{http_code}' -H 'Host: www.shop.test' "
                                "http://127.0.0.1/.well-known/acme-challenge/probe2")
    finally:
        host.run("rm -f /var/www/flask-nginx-acme/.well-known/acme-challenge/probe2")
    assert out == "probe-token 200"


# --- ACME pre-flight, retries, profiles ----------------------------------------------------

def test_a_name_resolving_elsewhere_fails_the_preflight_and_no_order_reaches_the_ca(host):
    orders, before = new_orders(), serial(host)
    assert orders > 0, "Pebble's log shows no order at all: the counter would prove nothing"
    result = converge("-e", json.dumps({"flask_nginx_server_names": NAMES + ["elsewhere.shop.test"]}))
    text = output(result, tail=None)
    assert result.returncode != 0
    assert "ACME pre-flight failed" in text, output(result)
    assert f"elsewhere.shop.test resolved to {pebble_address()}: no HTTP answer from {pebble_address()}:80" in text, \
        output(result)
    assert "shop.test resolved" not in text.replace("elsewhere.shop.test resolved", "")
    assert new_orders() == orders
    assert serial(host) == before
    assert not host.run("ls /var/www/flask-nginx-acme/.well-known/acme-challenge/ | grep preflight").stdout.strip()


def test_transient_ca_errors_are_retried_until_the_certificate_comes(host):
    """ca_gate.py answers the first two connections with 503 serverInternal (what an
    overloaded CA says), then passes everything to Pebble: the run succeeds after retries."""
    ca = pebble()
    gate = (Path(__file__).parent.parent / "ca_gate.py").read_text()
    ca.run_expect([0], f"cat > /root/ca_gate.py <<'EOF'\n{gate}EOF")
    ca.run_expect([0], "systemd-run --unit=flask-nginx-ca-gate python3 /root/ca_gate.py 14001 14000 2")
    ca.run_expect([0], "for i in $(seq 30); do ss -ltn | grep -q ':14001 ' && exit 0; sleep 0.3; done; exit 1")
    before = serial(host)
    state["extra"] = {"flask_nginx_acme_directory": GATE}
    result = converge("-e", json.dumps(state["extra"]), "-v")
    text = output(result, tail=None)
    assert result.returncode == 0, output(result)
    assert re.search(r"attempt 1 of 4: transient error \(.*\), retrying in 1s", text), output(result)
    assert re.search(r"attempt \d of 4: certificate issued", text), output(result)
    assert "rejected connection 2" in ca.check_output("journalctl -u flask-nginx-ca-gate --no-pager -o cat")
    assert serial(host) != before
    assert f"server = {GATE}" in host.file("/etc/letsencrypt/renewal/shop.conf").content_string


def test_acme_profile_on_certbot_2_fails_before_any_change_naming_the_version(host):
    version = host.check_output("dpkg-query --show --showformat='${Version}' certbot")
    if not version.startswith(("0.", "1.", "2.", "3.")):
        pytest.skip(f"certbot {version} supports profiles")
    result = converge("-e", json.dumps({**state["extra"], "flask_nginx_acme_profile": "shortlived"}))
    text = output(result, tail=None)
    assert result.returncode != 0
    assert f"this host's certbot is {version.split('-')[0].split('+')[0]}" in text or "need certbot 4.0" in text, output(result)
    assert re.search(r"flask-nginx-tls-app\s*:.*changed=0", result.stdout), output(result)


# --- testssl.sh ------------------------------------------------------------------------------

# Findings that exist only because the test CA (Pebble) is not a public CA, by id:
IGNORED = {
    "cert_chain_of_trust",  # Pebble's root is in no trust store: "chain of trust failed"
    "cert_trust",           # same cause, reported per name
    "cert_revocation",      # Pebble's certificates carry neither a CRL nor an OCSP URL
    "cert_ocspURL",         # same cause
    "cert_crlDistributionPoints",  # same cause
}
ECDSA_TLS12 = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"}
TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
# profile -> (protocols offered, ciphers offered: the profile's, for the certificate's ECDSA key)
PROFILES = {"intermediate": ({"TLS1_2", "TLS1_3"}, ECDSA_TLS12 | TLS13), "modern": ({"TLS1_3"}, TLS13)}


@pytest.fixture(scope="module")
def testssl():
    """testssl.sh (Debian 13's package) on the Pebble host, scanning the app host over the scenario network."""
    ca = pebble()
    with shared():  # heavy: not beside a quiet test of another lane
        ca.run_expect([0], "command -v testssl || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                           "--no-install-recommends testssl.sh >/dev/null")

    def scan():
        ca.run("rm -f /root/testssl.json")
        with shared():
            result = ca.run("testssl --quiet --warnings off --color 0 --ip one --jsonfile /root/testssl.json "
                            "-p -E -S -P -U shop.test:443")
        findings = json.loads(ca.check_output("cat /root/testssl.json"))
        assert findings, result.stdout[-3000:] + result.stderr[-2000:]
        return findings
    return scan


@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_testssl_finds_nothing_high_and_exactly_the_profiles_protocols_and_ciphers(host, testssl, profile):
    if profile != "intermediate":
        result = converge("-e", json.dumps({**state["extra"], "flask_nginx_tls_profile": profile}))
        assert result.returncode == 0, output(result)
    try:
        findings = testssl()
    finally:
        if profile != "intermediate":
            # Back to the profile of the host's other apps (test_tls_dns01.py's wild): the apps of a
            # host share the port's default server, and the role refuses two profiles on one port.
            restored = converge("-e", json.dumps(state["extra"]))
            assert restored.returncode == 0, output(restored)
    severe = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")
              and f["id"].split(" ")[0] not in IGNORED]
    assert not severe, json.dumps(severe, indent=1)
    protocols = {f["id"] for f in findings if f["id"] in {"SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3"}
                 and f["finding"].startswith("offered")}
    ciphers = {m.group(1) for f in findings if f["id"].startswith("cipher-")
               for m in [re.search(r"\bx[0-9a-fA-F]+\s+(\S+)", f["finding"])] if m}
    expected_protocols, expected_ciphers = PROFILES[profile]
    assert protocols == expected_protocols, json.dumps([f for f in findings if f["id"].startswith(("SSL", "TLS"))], indent=1)
    assert ciphers == expected_ciphers, json.dumps([f for f in findings if f["id"].startswith("cipher")], indent=1)
