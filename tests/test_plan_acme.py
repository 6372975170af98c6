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
