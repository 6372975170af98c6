"""The role's ACME helper scripts (files/acme_request.py, files/acme_preflight.py), run here
without a CA: how certbot's errors are classified, the growing delay, the bound."""
import datetime
import importlib.util
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import ROLE


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROLE / "files" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


acme_request = load("acme_request")

# Texts as certbot prints them (the ACME problem type is part of acme's error string).
TRANSIENT = [
    "An unexpected error occurred:\nurn:ietf:params:acme:error:badNonce :: JWS has an invalid anti-replay nonce",
    "urn:ietf:params:acme:error:rateLimited :: too many new orders recently; Retry-After: 3",
    "urn:ietf:params:acme:error:serverInternal :: the CA is overloaded",
    "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pebble', port=14000): Max retries exceeded "
    "with url: /dir (Caused by NewConnectionError(': Failed to establish a new connection: [Errno 111] Connection refused'))",
    "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
    "503 Server Error: Service Unavailable for url: https://acme.example/dir",
    "HTTPSConnectionPool(host='acme.example', port=443): Read timed out. (read timeout=45)",
]
PERMANENT = [
    "Certbot failed to authenticate some domains (authenticator: webroot).\n  Domain: shop.test\n  Type:   unauthorized\n"
    "  Detail: 10.0.0.1: Invalid response from http://shop.test/.well-known/acme-challenge/x: 404",
    "urn:ietf:params:acme:error:rejectedIdentifier :: Error creating new order :: Cannot issue for \"shop.test\"",
    "urn:ietf:params:acme:error:caa :: CAA record for shop.test prevents issuance",
    "  Type:   dns\n  Detail: DNS problem: NXDOMAIN looking up A for shop.test",
    "urn:ietf:params:acme:error:malformed :: Invalid character in DNS name",
    # A permanent problem wins even when a transient word appears too (a validation timeout).
    "  Type:   connection\n  Detail: 10.0.0.1: Fetching http://shop.test/...: Timeout during connect (likely firewall problem)",
    "Some error nobody has seen before",
]


@pytest.mark.parametrize("text", TRANSIENT)
def test_transient_errors_are_retried(text):
    assert acme_request.classify(text)[0] == "transient"


@pytest.mark.parametrize("text", PERMANENT)
def test_permanent_errors_fail_at_once(text):
    assert acme_request.classify(text)[0] == "permanent"


def test_delay_doubles_and_a_longer_retry_after_wins():
    assert [acme_request.wait_before(n, 5, "") for n in (1, 2, 3)] == [5, 10, 20]
    assert acme_request.wait_before(1, 5, "rateLimited; Retry-After: 30") == 30
    now = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    assert acme_request.retry_after("too many certificates: retry after 2025-01-01 12:02:00 UTC", now) == 120


def fake_runs(*outputs):
    """A `run` that answers each call with the next (rc, stderr); records the calls."""
    calls, answers = [], list(outputs)

    def run(command, **_):
        calls.append(command)
        rc, err = answers.pop(0)
        return SimpleNamespace(returncode=rc, stdout="", stderr=err)
    return run, calls


def test_transient_errors_are_retried_a_bounded_number_of_times_with_growing_delay():
    run, calls = fake_runs(*[(1, "urn:ietf:params:acme:error:badNonce")] * 4)
    waits = []
    rc, _, err = acme_request.main(["x", "3", "2", "certbot", "certonly"], run=run, sleep=waits.append, problems=str)
    assert rc == 1 and len(calls) == 4 and waits == [2, 4, 8]
    assert "attempt 4 of 4: transient error (acme:error:badNonce), giving up" in err


def test_a_problem_type_only_in_certbots_log_decides(tmp_path, capsys):
    """certbot prints "Error returned by the ACME server: the CA is overloaded"; its log has the type."""
    log = tmp_path / "letsencrypt.log"
    # certbot first asks for an existing account (accountDoesNotExist is normal), then registers.
    log.write_text('Received response:\nHTTP 400\n\n{"type": "urn:ietf:params:acme:error:accountDoesNotExist"}\n'
                   'Received response:\nHTTP 503\nContent-Type: application/problem+json\n\n'
                   '{"type": "urn:ietf:params:acme:error:serverInternal", "detail": "the CA is overloaded"}\n')
    assert acme_request.log_problems(log) == "acme:error:serverInternal\nHTTP 503"
    assert acme_request.log_problems(tmp_path / "missing.log") == ""
    run, calls = fake_runs((1, "Error returned by the ACME server: the CA is overloaded"), (0, ""))
    rc, _, err = acme_request.main(["x", "3", "1", "certbot"], run=run, sleep=lambda _: None,
                                   problems=lambda: acme_request.log_problems(log))
    assert rc == 0 and len(calls) == 2 and "attempt 2 of 4: certificate issued" in err
    assert "attempt 1 of 4: transient error (acme:error:serverInternal), retrying in 1s" in capsys.readouterr().err


def test_success_after_a_transient_error():
    run, calls = fake_runs((1, "urn:ietf:params:acme:error:serverInternal"), (0, ""))
    waits = []
    rc, _, err = acme_request.main(["x", "3", "1", "certbot"], run=run, sleep=waits.append, problems=str)
    assert rc == 0 and len(calls) == 2 and waits == [1]
    assert "attempt 2 of 4: certificate issued" in err


def test_permanent_error_stops_at_once_with_the_cas_message():
    run, calls = fake_runs((1, "urn:ietf:params:acme:error:rejectedIdentifier :: Cannot issue for \"x.test\""))
    rc, _, err = acme_request.main(["x", "3", "1", "certbot"], run=run, sleep=pytest.fail, problems=str)
    assert rc == 1 and len(calls) == 1
    assert 'Cannot issue for "x.test"' in err and "permanent error" in err


def test_a_retry_after_beyond_the_bound_is_not_waited_for():
    run, calls = fake_runs((1, "urn:ietf:params:acme:error:rateLimited :: retry after 2099-01-01 00:00:00 UTC"))
    rc, _, err = acme_request.main(["x", "3", "1", "certbot"], run=run, sleep=pytest.fail, problems=str)
    assert rc == 1 and len(calls) == 1 and "longer than 300s" in err


def test_preflight_names_the_name_the_address_and_what_answered():
    """A name that does not resolve, and one that answers without the token (nothing on port 80 here)."""
    result = subprocess.run([sys.executable, str(ROLE / "files" / "acme_preflight.py"), "f", "tok",
                             "does-not-exist.invalid", "127.0.0.1"], capture_output=True, text=True, timeout=60, check=True)
    failed = {entry["name"]: entry for entry in json.loads(result.stdout)["failed"]}
    assert "does not resolve" in failed["does-not-exist.invalid"]["answer"]
    assert failed["127.0.0.1"]["address"] == "127.0.0.1"


# --- files/certbot-wrapper.sh: each certificate trusts its own app's private CA -------------

@pytest.fixture
def wrapper(tmp_path):
    """The real wrapper, with a stand-in certbot that records its arguments and the CAs it was
    given to trust (the bundle's private part)."""
    cas, renewal = tmp_path / "acme-ca.d", tmp_path / "renewal"
    cas.mkdir()
    renewal.mkdir()
    for app in ("shop", "blog"):
        (cas / f"{app}.pem").write_text(f"CA of {app}\n")
    for lineage in ("shop", "blog", "mine"):  # "mine": a certificate of the host's own, no private CA
        (renewal / f"{lineage}.conf").write_text("")
    certbot = tmp_path / "certbot"
    certbot.write_text('#!/bin/sh\nprintf "%s | %s\\n" "$*" "$(grep "^CA of" "$REQUESTS_CA_BUNDLE" | tr "\\n" " ")"'
                       ' >>"$CALLS"\n[ "$*" != "${FAIL_ON:-}" ]\n')
    certbot.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "CALLS": str(tmp_path / "calls"),
           "FLASK_NGINX_CERTBOT": str(certbot), "FLASK_NGINX_ACME_CA_DIR": str(cas),
           "FLASK_NGINX_RENEWAL_DIR": str(renewal)}

    def run(*args, **more):
        result = subprocess.run(["sh", str(ROLE / "files" / "certbot-wrapper.sh"), *args],
                                env={**env, **more}, capture_output=True, text=True, timeout=30)
        calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
        (tmp_path / "calls").unlink(missing_ok=True)
        leftovers = list(tmp_path.glob("flask-nginx-acme-ca.*"))
        return result.returncode, calls, leftovers
    return run


def test_an_order_trusts_the_private_ca_of_its_own_app_alone(wrapper):
    assert wrapper("certonly", "--cert-name=shop", "--domain=shop.test") == (
        0, ["certonly --cert-name=shop --domain=shop.test | CA of shop "], [])
    assert wrapper("renew", "--cert-name", "blog")[1] == ["renew --cert-name blog | CA of blog "]


def test_the_timers_renew_runs_once_per_certificate_each_with_its_own_ca(wrapper):
    status, calls, leftovers = wrapper("-q", "renew")
    assert status == 0 and not leftovers
    assert sorted(calls) == ["-q renew --cert-name blog | CA of blog ", "-q renew --cert-name mine | ",
                             "-q renew --cert-name shop | CA of shop "]


def test_a_failed_renewal_fails_the_run_and_the_others_still_renew(wrapper):
    status, calls, leftovers = wrapper("-q", "renew", FAIL_ON="-q renew --cert-name blog")
    assert status != 0 and len(calls) == 3 and not leftovers
