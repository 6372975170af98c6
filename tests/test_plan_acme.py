"""When the plan orders a certificate again: what the certificate on disk was ordered with
(certbot's renewal file) against what the variables ask for now. The plan function is
called directly."""
from conftest import SAMPLE_APP, plan_module, role_context, role_options, role_values

PLAN = plan_module()
OPTIONS = role_options()
ACME = {"flask_nginx_server_names": ["shop.test"], "flask_nginx_tls_mode": "acme",
        "flask_nginx_acme_email": "ops@shop.test"}
RENEWAL = ("server = https://acme-v02.api.letsencrypt.org/directory\nauthenticator = webroot\n"
           "key_type = ecdsa\n")


def ordered_again(renewal, certbot="2.1.0", **values):
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **ACME, **values)
    probe = {"paths": {"cert": {"type": "file"}}, "packages": {"certbot": certbot}}
    context = role_context(values, probe=probe, cert_names=["DNS:shop.test"], renewal_conf=renewal)
    plan, refused = PLAN.make_plan(values, OPTIONS, context)
    assert not refused, refused
    return plan["tls"]["acme_needed"]


def test_the_same_certificate_is_not_ordered_again():
    assert not ordered_again(RENEWAL)
    assert not ordered_again(RENEWAL.replace("key_type = ecdsa\n", ""))  # not written down: no reason


def test_another_key_type_orders_again():
    assert ordered_again(RENEWAL, flask_nginx_acme_key_type="rsa")
    assert not ordered_again(RENEWAL.replace("ecdsa", "rsa"), flask_nginx_acme_key_type="rsa")


def test_another_profile_orders_again_on_certbot_4():
    assert ordered_again(RENEWAL, certbot="4.0.0", flask_nginx_acme_profile="shortlived")
    with_profile = RENEWAL + "preferred_profile = shortlived\n"
    assert not ordered_again(with_profile, certbot="4.0.0", flask_nginx_acme_profile="shortlived")
    assert ordered_again(with_profile, certbot="4.0.0", flask_nginx_acme_profile="")  # back to the CA's default


CLOUDFLARE = {"flask_nginx_acme_challenge": "dns-01", "flask_nginx_acme_dns_plugin": "cloudflare",
              "flask_nginx_acme_dns_credentials": {"api_token": "t0ken-v4lue"}, "flask_nginx_acme_dns_propagation_seconds": 20}


def tls_plan(**values):
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **ACME, **values)
    probe = {"paths": {"cert": {"type": "absent"}}, "packages": {"certbot": "2.1.0"},
             "globs": {"dns_credentials": ["/etc/letsencrypt/flask-nginx/flaskapp-rfc2136.ini",
                                           "/etc/letsencrypt/flask-nginx/flaskapp-cloudflare.ini",
                                           # Another app's (flaskapp-eu), matched by flaskapp-*.ini: not this app's to remove.
                                           "/etc/letsencrypt/flask-nginx/flaskapp-eu-ovh.ini"]}}
    plan, refused = PLAN.make_plan(values, OPTIONS, role_context(values, probe=probe))
    assert not refused, refused
    return plan


def test_a_provider_plugin_gets_its_authenticator_credentials_file_and_package():
    plan = tls_plan(**CLOUDFLARE)
    tls = plan["tls"]
    assert tls["acme_authenticator"] == "dns-cloudflare"
    assert tls["acme_challenge_args"] == ["--authenticator=dns-cloudflare",
                                          "--dns-cloudflare-credentials=/etc/letsencrypt/flask-nginx/flaskapp-cloudflare.ini",
                                          "--dns-cloudflare-propagation-seconds=20"]
    assert tls["dns_credentials"] == "/etc/letsencrypt/flask-nginx/flaskapp-cloudflare.ini"
    # The app's rfc2136 file from before goes; its own stays, and so does another app's.
    assert tls["dns_credentials_gone"] == ["/etc/letsencrypt/flask-nginx/flaskapp-rfc2136.ini"]
    assert "python3-certbot-dns-cloudflare" in plan["packages"]["wanted"]
    assert "python3-certbot-dns-rfc2136" not in plan["packages"]["wanted"]
    assert "t0ken-v4lue" not in repr(plan)  # the plan (shown at -v) never holds a credential


def test_rfc2136_stays_the_default_plugin_and_http01_keeps_no_credentials():
    rfc2136 = tls_plan(flask_nginx_acme_challenge="dns-01", flask_nginx_acme_dns_server="192.0.2.53",
                       flask_nginx_acme_dns_tsig_key_name="k.", flask_nginx_acme_dns_tsig_secret="c2VjcmV0")
    assert rfc2136["tls"]["acme_authenticator"] == "dns-rfc2136"
    assert rfc2136["tls"]["dns_credentials_gone"] == ["/etc/letsencrypt/flask-nginx/flaskapp-cloudflare.ini"]
    assert "python3-certbot-dns-rfc2136" in rfc2136["packages"]["wanted"]
    http01 = tls_plan()["tls"]
    assert http01["acme_authenticator"] == "webroot" and http01["dns_plugin"] == ""
    assert http01["dns_credentials_gone"] == ["/etc/letsencrypt/flask-nginx/flaskapp-rfc2136.ini",
                                              "/etc/letsencrypt/flask-nginx/flaskapp-cloudflare.ini"]


def test_another_plugin_orders_the_certificate_again():
    renewal = RENEWAL.replace("authenticator = webroot", "authenticator = dns-rfc2136")
    assert ordered_again(renewal, **CLOUDFLARE)
    assert not ordered_again(renewal.replace("dns-rfc2136", "dns-cloudflare"), **CLOUDFLARE)
