"""default scenario: releases. A new release goes live only once it loads; a bad
one fails the play with its own error and the previous release keeps
answering 200; a rollback brings the previous release back."""
import json
import shutil

import pytest
from conftest import APP
from flask_nginx_testing import output, project_file, run_playbook, scenario_file

# Each test here runs whole plays; once, on Debian 12, is enough to prove the behaviour.
testinfra_hosts = ["ansible://flask-nginx-default-debian12"]


def converge_shop(*args):
    """The shop's play alone (shop.yml), with ARGS."""
    return run_playbook(scenario_file("shop.yml"), *args)


def variant(tmp_path, sample_app, name, change):
    """A copy of the sample app with one change, as a new local source."""
    source = tmp_path / name
    shutil.copytree(sample_app, source, ignore=shutil.ignore_patterns("__pycache__"))
    change(source)
    return str(source)


def current_release(host):
    return host.file(f"/opt/{APP}/current").linked_to


def still_serving_v1(http):
    info = http.json("/api/info")
    assert info["version"] == "1"
    assert http.get("/healthz")[0] == 200


def test_deploy_v2_then_roll_back_to_v1(host, http, tmp_path, sample_app):
    v1 = current_release(host)
    v2 = variant(tmp_path, sample_app, "v2", lambda src: (src / "VERSION").write_text("2\n"))
    limit = ("--limit", host.backend.get_hostname())
    result = converge_shop("-e", json.dumps({"flask_nginx_app_src": v2}), *limit)
    assert result.returncode == 0, output(result)
    assert current_release(host) != v1
    # The deploy ended when Gunicorn's workers of v2 were there (its health check waits for them).
    assert current_release(host).endswith("/" + host.file(f"/run/gunicorn-{APP}/release").content_string.strip())
    assert http.served_version("2") == "2"

    result = run_playbook(project_file("playbooks", "rollback.yml"),
                          "-e", '{"flask_nginx_app_name": "shop", "flask_nginx_server_names": ["shop.test"]}', *limit)
    assert result.returncode == 0, output(result)
    assert current_release(host) == v1
    # The rollback ended when Gunicorn's workers of v1 were there (its health check waits for them).
    assert v1.endswith("/" + host.file(f"/run/gunicorn-{APP}/release").content_string.strip())
    assert http.served_version("1") == "1"

    # Back to the configured source: v1 is current already, nothing to do for the shop.
    result = converge_shop(*limit)
    assert result.returncode == 0, output(result)
    assert current_release(host) == v1


@pytest.mark.parametrize("case, change, message", [
    ("crash-at-import",
     lambda src: (src / "app.py").write_text((src / "app.py").read_text() + "\nraise RuntimeError('boom at import')\n"),
     ["does not load", "RuntimeError: boom at import"]),
    ("requirements-do-not-install",
     lambda src: (src / "requirements.txt").write_text("flask-nginx-no-such-package-4711==1.0\n"),
     ["could not be built", "flask-nginx-no-such-package-4711"]),
])
def test_bad_release_fails_clearly_and_previous_keeps_serving(host, http, tmp_path, sample_app, case, change, message):
    before = current_release(host)
    source = variant(tmp_path, sample_app, case, change)
    result = converge_shop("-e", json.dumps({"flask_nginx_app_src": source}), "--limit", host.backend.get_hostname())
    assert result.returncode != 0
    for text in message:
        assert text in output(result, tail=None), output(result)
    assert current_release(host) == before
    still_serving_v1(http)
    releases = host.check_output(f"ls /opt/{APP}/releases").split()
    incomplete = [r for r in releases if not host.file(f"/opt/{APP}/releases/{r}/.complete").exists]
    assert not incomplete, f"half-built releases left: {incomplete}"


def test_broken_nginx_snippet_fails_and_changes_nothing_live(host, http):
    site = f"/etc/nginx/sites-available/{APP}.conf"
    before = host.file(site).sha256sum
    extra = {"flask_nginx_app_name": "shop", "flask_nginx_server_names": ["shop.test", "www.shop.test"],
             "flask_nginx_extra_config": "location /broken {\n    return 200;"}
    result = converge_shop("-e", json.dumps(extra), "--limit", host.backend.get_hostname())
    assert result.returncode != 0
    text = output(result, tail=None)
    assert "was rejected and the previous one keeps serving" in text
    assert "unexpected end of file" in text and "test failed" in text
    assert host.file(site).sha256sum == before
    assert not host.run("ls /etc/nginx/sites-available/ /etc/nginx/conf.d/ | grep '~$'").stdout.strip(), "backups left"
    host.run_expect([0], "nginx -t")
    still_serving_v1(http)


def test_secret_values_never_appear_in_converge_output(host):
    """A converge that rotates the secret (so the environment file changes),
    with -v and --diff: neither the old nor the new value may show."""
    new_secret = "rotated-Secret-Value-4711"
    extra = '{"flask_nginx_app_env": {"APP_NAME": "shop", "APP_VERSION": "1", "SECRET_KEY": "%s"}}' % new_secret
    result = converge_shop("-v", "--diff", "-e", extra, "--limit", host.backend.get_hostname())
    assert result.returncode == 0, output(result)
    text = output(result, tail=None)
    assert "environment file holds its settings and secrets" in text
    assert new_secret not in text and "s3cr3t-Molecule-Value" not in text
    assert new_secret in host.file(f"/etc/flask-nginx/{APP}/app.env").content_string
    restored = converge_shop("--limit", host.backend.get_hostname())
    assert restored.returncode == 0, output(restored)
