"""default scenario: releases. A new release goes live only once it loads; a bad
one fails the play with its own error and the previous release keeps
answering 200; a rollback brings the previous release back.

The story of a good release is played once (`release_story`, one deploy, one
re-run, one rollback, one converge back to the configured source) and every test
of it asserts on what was observed at its step: its migration, its background
worker, the served release."""
import json
import os
import re
import shutil

import pytest
from conftest import APP, UNIT, Http, release_of, wait_for
from flask_nginx_testing import output, project_file, run_playbook, scenario_file

# The shop's settings in shop.yml (a dict given with -e replaces them whole).
SHOP_ENV = {"APP_NAME": "shop", "APP_VERSION": "1", "SECRET_KEY": "s3cr3t-Molecule-Value"}
# Each test here runs whole plays; once, on Debian 12, is enough to prove the behaviour.
testinfra_hosts = ["ansible://flask-nginx-default-debian12"]


def converge_shop(*args):
    """The shop's play alone (shop.yml), with ARGS."""
    return run_playbook(scenario_file("shop.yml"), *args)


def variant(tmp_path, app_source, name, change):
    """A copy of the sample app with one change, as a new local source."""
    source = tmp_path / name
    shutil.copytree(app_source, source, ignore=shutil.ignore_patterns("__pycache__"))
    change(source)
    return str(source)


def current_release(host):
    return host.file(f"/opt/{APP}/current").linked_to


def served_release(host):
    return release_of(host, f"{UNIT}.service")


def still_serving_v1(http):
    info = http.json("/api/info")
    assert info["version"] == "1"
    assert http.get("/healthz")[0] == 200


def job_done_by(http, payload):
    """The version of the code that did a job queued now (the worker's answer), or None."""
    status, _, body = http.get("/api/jobs", "-X", "POST", "--data-binary", payload)
    assert status == 201, body
    job = json.loads(body)["id"]
    done = wait_for(lambda: (lambda info: info if info.get("status") == "done" else None)(http.json(f"/api/jobs/{job}")))
    return str(done["done_by_version"]) if done else None


@pytest.fixture(scope="module")
def release_story(host, tmp_path_factory, app_source):
    """v1 is live; v2 (new code, and new settings: APP_VERSION 2 instead of 1, which
    the app shows) is deployed, deployed again, given settings that do not load,
    rolled back, and the configured source (v1) converged again. What each step
    showed, by step."""
    http, limit = Http(host), ("--limit", host.backend.get_hostname())
    env = f"/etc/flask-nginx/{APP}/app.env"
    seen = {"v1": current_release(host), "job before": job_done_by(http, "first")}
    v2 = variant(tmp_path_factory.mktemp("story"), app_source, "v2", lambda src: (src / "CHANGES").write_text("2\n"))
    v2_vars = {"flask_nginx_app_src": v2, "flask_nginx_app_env": {**SHOP_ENV, "APP_VERSION": "2"}}

    deploy = converge_shop("-e", json.dumps(v2_vars), *limit)
    seen["deploy"] = {"result": deploy, "current": current_release(host), "served": served_release(host)}
    if deploy.returncode == 0:
        release = os.path.basename(seen["deploy"]["current"])
        seen["deploy"].update(marker=host.file(f"/var/lib/flask-nginx/{APP}/pre-switch/{release}").exists,
                              saw=host.file(f"/var/lib/{APP}/pre-switch-saw-current").content_string.strip(),
                              version=http.served_version("2"), job=job_done_by(http, "second"))
    seen["again"] = converge_shop("-e", json.dumps(v2_vars), *limit)

    # Settings alone, and they do not load (PROXY_COUNT is read as a number): checked before
    # they go live, like a release; the live settings and Gunicorn stay as they were.
    env_before = host.file(env).sha256sum
    bad = converge_shop("-e", json.dumps({**v2_vars, "flask_nginx_app_env": {**v2_vars["flask_nginx_app_env"],
                                                                             "PROXY_COUNT": "not-a-number"}}), *limit)
    seen["bad settings"] = {"result": bad, "env kept": host.file(env).sha256sum == env_before,
                            "left beside": host.file(env + ".next").exists, "version": http.json("/api/info")["version"],
                            "current": current_release(host)}

    rollback = run_playbook(project_file("playbooks", "rollback.yml"), "-e", json.dumps({
        "flask_nginx_app_name": APP, "flask_nginx_server_names": ["shop.test"],
        "flask_nginx_workers": [{"name": "jobs", "command": "flask --app app worker"}]}), *limit)
    seen["rollback"] = {"result": rollback, "current": current_release(host), "served": served_release(host)}
    if rollback.returncode == 0:
        seen["rollback"].update(version=http.served_version("1"), job=job_done_by(http, "third"))

    # Back to the configured source: v1 is current already, nothing to do for the shop.
    back = converge_shop(*limit)
    seen["back"] = {"result": back, "current": current_release(host)}

    # A change of settings alone (v1's code stays live), then rollback.yml: it undoes that
    # change, with the same code, and leaves the shop as shop.yml has it.
    only = converge_shop("-e", json.dumps({"flask_nginx_app_env": {**SHOP_ENV, "APP_VERSION": "1b"}}), *limit)
    seen["settings only"] = {"result": only, "current": current_release(host),
                             "version": http.served_version("1b") if only.returncode == 0 else None}
    undo = run_playbook(project_file("playbooks", "rollback.yml"), "-e", json.dumps({
        "flask_nginx_app_name": APP, "flask_nginx_server_names": ["shop.test"],
        "flask_nginx_workers": [{"name": "jobs", "command": "flask --app app worker"}]}), *limit)
    seen["settings back"] = {"result": undo, "current": current_release(host),
                             "version": http.served_version("1") if undo.returncode == 0 else None,
                             "left": host.file(f"{seen['v1']}/app.env.previous").exists,
                             "history": host.file(f"/var/lib/flask-nginx/{APP}/history.jsonl").content_string}
    return seen


def test_deploy_v2_then_roll_back_to_v1(release_story):
    """v2's code and settings go live together, and the rollback brings v1's code back with
    v1's settings: the app (and its worker) sees APP_VERSION 2, then 1 again."""
    v1, deploy, rollback, back = (release_story[k] for k in ("v1", "deploy", "rollback", "back"))
    assert deploy["result"].returncode == 0, output(deploy["result"])
    assert deploy["current"] != v1
    # The deploy ended when Gunicorn's workers of v2 were there (its health check waits for them).
    assert deploy["current"].endswith("/" + deploy["served"])
    assert deploy["version"] == "2"

    assert rollback["result"].returncode == 0, output(rollback["result"])
    assert rollback["current"] == v1
    # The rollback ended when Gunicorn's workers of v1 were there (its health check waits for them).
    assert v1.endswith("/" + rollback["served"])
    assert rollback["version"] == "1"

    assert back["result"].returncode == 0, output(back["result"])
    assert back["current"] == v1


def test_a_change_of_settings_alone_is_undone_by_rollback_with_the_same_code(release_story):
    """rollback.yml after a change of settings alone puts back the settings the release had
    before it, and the release stays (there was no other code to go back to); the change
    undone is forgotten, so the next rollback goes to the previous release; the history says so."""
    only, back = release_story["settings only"], release_story["settings back"]
    assert only["result"].returncode == 0, output(only["result"])
    assert only["current"] == release_story["v1"] and only["version"] == "1b"
    assert back["result"].returncode == 0, output(back["result"])
    assert back["current"] == release_story["v1"] and back["version"] == "1"
    assert not back["left"]
    last = json.loads(back["history"].strip().splitlines()[-1])
    assert (last["kind"], last["result"], last["release"]) == ("rollback", "ok", os.path.basename(release_story["v1"]))
    assert last["message"] == "the settings before the last change of settings alone"
    assert SHOP_ENV["SECRET_KEY"] not in output(back["result"], tail=None) + back["history"]


def test_new_settings_that_do_not_load_never_go_live(release_story):
    """A change of settings alone passes the start-up check before it goes live: settings the
    app cannot load fail the run with the app's error, the live settings file is untouched,
    no copy of them stays beside it, and v2 keeps serving with its settings."""
    bad = release_story["bad settings"]
    assert bad["result"].returncode != 0, output(bad["result"])
    text = " ".join(output(bad["result"], tail=None).split())
    assert re.search(r"does not load \(\S+, with the new settings\); it gets no traffic and the current release keeps "
                     r"serving with the settings it has", text), output(bad["result"])
    # The app's own error, with the value redacted: every value of flask_nginx_app_env is
    # treated as a secret in what the role shows.
    assert "invalid literal for int()" in text and "'<redacted>'" in text, output(bad["result"])
    assert "not-a-number" not in text
    assert SHOP_ENV["SECRET_KEY"] not in text
    assert bad["env kept"] and not bad["left beside"]
    assert bad["version"] == "2" and bad["current"] == release_story["deploy"]["current"]


def test_pre_switch_commands_run_once_per_release(release_story):
    """A new release: its migration runs once (the marker on the host), a re-run with the
    same release runs nothing."""
    deploy, again = release_story["deploy"], release_story["again"]
    assert deploy["result"].returncode == 0, output(deploy["result"])
    assert re.search(r"Run the commands of the new release: pre-switch\] \*+\nchanged", deploy["result"].stdout), \
        output(deploy["result"])
    assert deploy["marker"]
    # They ran before the switch: `current` was still the previous release (v1) then.
    assert deploy["saw"] == release_story["v1"]
    assert again.returncode == 0, output(again)
    assert re.search(r"Run the commands of the new release: pre-switch\] \*+\nskipping", again.stdout), output(again)


def test_worker_processes_jobs_with_the_code_of_the_current_release(release_story):
    """A job is done by the worker; after a deploy by the new release's code, after a
    rollback by the previous one again."""
    assert release_story["job before"] == "1"
    assert release_story["deploy"]["result"].returncode == 0, output(release_story["deploy"]["result"])
    assert release_story["deploy"]["job"] == "2"
    assert release_story["rollback"]["result"].returncode == 0, output(release_story["rollback"]["result"])
    assert release_story["rollback"]["job"] == "1"


@pytest.mark.parametrize("case, change, message", [
    ("crash-at-import",
     lambda src: (src / "app.py").write_text((src / "app.py").read_text() + "\nraise RuntimeError('boom at import')\n"),
     ["does not load", "RuntimeError: boom at import"]),
    ("requirements-do-not-install",
     lambda src: (src / "requirements.txt").write_text("flask-nginx-no-such-package-4711==1.0\n"),
     ["could not be built", "flask-nginx-no-such-package-4711"]),
])
def test_bad_release_fails_clearly_and_previous_keeps_serving(host, http, tmp_path, app_source, case, change, message):
    before = current_release(host)
    source = variant(tmp_path, app_source, case, change)
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


def test_pruning_keeps_the_release_that_was_live_before_a_deploy(host, http, tmp_path, app_source):
    """After failed deploys (built, never live; the bad-release tests above leave two), a good
    deploy prunes to flask_nginx_releases_keep (3) but keeps the release that was live before
    it (its old workers may still finish requests): rollback.yml can still return to it."""
    limit = ("--limit", host.backend.get_hostname())
    v1 = current_release(host)
    v5 = variant(tmp_path, app_source, "v5", lambda src: (src / "VERSION").write_text("5\n"))
    result = converge_shop("-e", json.dumps({"flask_nginx_app_src": v5}), *limit)
    assert result.returncode == 0, output(result)
    assert current_release(host) != v1
    assert host.file(v1).is_directory, host.check_output(f"ls -la /opt/{APP}/releases")
    releases = host.check_output(f"ls /opt/{APP}/releases").split()
    assert len(releases) == 3, releases
    result = run_playbook(project_file("playbooks", "rollback.yml"), "-e", json.dumps({
        "flask_nginx_app_name": APP, "flask_nginx_server_names": ["shop.test"],
        "flask_nginx_workers": [{"name": "jobs", "command": "flask --app app worker"}]}), *limit)
    assert result.returncode == 0, output(result)
    assert current_release(host) == v1
    assert http.served_version("1") == "1"
