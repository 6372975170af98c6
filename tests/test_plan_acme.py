"""When the plan orders a certificate again: what the certificate on disk was ordered with
(certbot's renewal file) against what the variables ask for now. The plan function is
called directly."""
import re

import jinja2
from conftest import ROLE, SAMPLE_APP, plan_module, role_context, role_options, role_values

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


def tls_plan(renewal="", **values):
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **ACME, **values)
    probe = {"paths": {"cert": {"type": "file" if renewal else "absent"}}, "packages": {"certbot": "2.1.0"},
             "globs": {"dns_credentials": ["/etc/letsencrypt/flask-nginx/flaskapp-rfc2136.ini",
                                           "/etc/letsencrypt/flask-nginx/flaskapp-cloudflare.ini",
                                           # Another app's (flaskapp-eu), matched by flaskapp-*.ini: not this app's to remove.
                                           "/etc/letsencrypt/flask-nginx/flaskapp-eu-ovh.ini"]}}
    plan, refused = PLAN.make_plan(values, OPTIONS, role_context(values, probe=probe, renewal_conf=renewal,
                                                                 cert_names=["DNS:shop.test"]))
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


def test_the_credentials_file_the_certificate_was_ordered_with_stays_until_an_order_with_the_new_plugin():
    """A change of plugin whose order fails must leave certbot.timer able to renew."""
    renewal = ("authenticator = dns-rfc2136\n"
               "dns_rfc2136_credentials = /etc/letsencrypt/flask-nginx/flaskapp-rfc2136.ini\n")
    assert tls_plan(renewal, **CLOUDFLARE)["tls"]["dns_credentials_gone"] == []
    ordered = renewal.replace("rfc2136", "cloudflare")
    assert tls_plan(ordered, **CLOUDFLARE)["tls"]["dns_credentials_gone"] == ["/etc/letsencrypt/flask-nginx/flaskapp-rfc2136.ini"]


def test_a_host_that_does_not_ask_the_ca_leaves_dns_credentials_alone():
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **ACME, **CLOUDFLARE)
    probe = {"paths": {"cert": {"type": "absent"}}, "packages": {"certbot": "2.1.0"},
             "globs": {"dns_credentials": ["/etc/letsencrypt/flask-nginx/flaskapp-cloudflare.ini"]}}
    groups = {"flask_lb": ["lb1", "lb2"], "flask_app": ["app1"]}
    plan, refused = PLAN.make_plan(values, OPTIONS, role_context(values, host="lb2", groups=groups, probe=probe))
    assert not refused, refused
    assert plan["tls"]["follower"] and plan["tls"]["dns_credentials_gone"] == []
    assert "python3-certbot-dns-cloudflare" not in plan["packages"]["wanted"]


# Each plugin's keys, as certbot's INI reader finds them in the file the role writes.
PLUGIN_CREDENTIALS = {
    "cloudflare": {"api_token": "Cf-t0ken_1"},
    "digitalocean": {"token": "dop_v1_abc"},
    "dnsimple": {"token": "dnsimple-t0ken"},
    "gehirn": {"api_token": "g-t0ken", "api_secret": "g/s3cret="},
    "linode": {"key": "l1n0de", "version": "4"},
    "ovh": {"endpoint": "ovh-eu", "application_key": "Ak", "application_secret": "As", "consumer_key": "Ck"},
    "sakuracloud": {"api_token": "s-t0ken", "api_secret": "s:s3cret@x"},
}


def render_credentials(plan, values):
    """templates/dns-credentials.ini.j2 as Ansible's template module renders it (trim_blocks)."""
    env = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    template = env.from_string((ROLE / "templates" / "dns-credentials.ini.j2").read_text())
    return template.render(__flask_nginx_plan=plan, **values)


def test_every_provider_plugin_gets_its_keys_one_per_line_and_nothing_else():
    for plugin, credentials in PLUGIN_CREDENTIALS.items():
        values = {**CLOUDFLARE, "flask_nginx_acme_dns_plugin": plugin, "flask_nginx_acme_dns_credentials": credentials}
        plan = tls_plan(**values)
        assert plan["tls"]["acme_challenge_args"][0] == f"--authenticator=dns-{plugin}"
        text = render_credentials(plan, role_values(flask_nginx_app_src=SAMPLE_APP, **values))
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert lines == [f"dns_{plugin}_{key} = {credentials[key]}" for key in sorted(credentials)], (plugin, text)
        # Certbot's reader takes each as written: key, " = ", a value with nothing it would cut.
        assert all(re.fullmatch(r"dns_[a-z]+_[a-z_]+ = [A-Za-z0-9._~+/=:@-]+", line) for line in lines), text


def test_the_rfc2136_file_holds_the_tsig_variables():
    values = {"flask_nginx_acme_challenge": "dns-01", "flask_nginx_acme_dns_server": "192.0.2.53",
              "flask_nginx_acme_dns_tsig_key_name": "k.", "flask_nginx_acme_dns_tsig_secret": "c2VjcmV0"}
    plan = tls_plan(**values)
    text = render_credentials(plan, role_values(flask_nginx_app_src=SAMPLE_APP, **ACME, **values))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["dns_rfc2136_server = 192.0.2.53", "dns_rfc2136_port = 53", "dns_rfc2136_name = k.",
                     "dns_rfc2136_secret = c2VjcmV0", "dns_rfc2136_algorithm = HMAC-SHA512"]
