"""playbooks/status.yml on the single hosts of the default scenario: the report names the
current release, the units, the certificate and the health, changes nothing, and fails
when Gunicorn is stopped."""
import json
import re

from flask_nginx_testing import output, project_file, run_playbook

from conftest import APP, UNIT

# Whole plays: on one host (the cluster scenario runs it over a fleet).
testinfra_hosts = ["ansible://flask-nginx-default-debian12"]

SHOP = {"flask_nginx_app_name": "shop", "flask_nginx_server_names": ["shop.test"], "flask_nginx_metrics": True,
        "flask_nginx_workers": [{"name": "jobs", "command": "flask --app app worker"}],
        "flask_nginx_timers": [{"name": "tick", "command": "flask --app app cleanup", "on_calendar": "*:0/15"}]}
BLOG = {"flask_nginx_app_name": "blog", "flask_nginx_server_names": ["Blog.Test"], "flask_nginx_tls_mode": "selfsigned"}


def status(host, variables, *args):
    return run_playbook(project_file("playbooks", "status.yml"), "-e", json.dumps(variables),
                        "--limit", host.backend.get_hostname(), *args)


def test_status_reports_release_units_and_health_and_changes_nothing(host):
    """A real run (not --check, where nothing could change): every task reports ok."""
    result = status(host, SHOP)
    text = output(result, tail=None)
    assert result.returncode == 0, output(result)
    assert re.search(r"changed=0\s", result.stdout), output(result)
    current = host.file(f"/opt/{APP}/current").linked_to.rsplit("/", 1)[1]
    assert re.search(rf"release: ['\"]?{current} \(current since 20", text), output(result)
    assert f"{UNIT}.service active running" in text
    assert "shop-worker-jobs@1.service active running" in text and "shop-job-tick.timer active waiting" in text
    assert "nginx.service active running" in text and "prometheus-nginx-exporter.service active running" in text
    assert re.search(r"workers: ['\"]?[1-9]", text), output(result)
    assert "healthy: true" in text and "-> 200" in text


def test_status_reports_the_certificate(host):
    result = status(host, BLOG)
    assert result.returncode == 0, output(result)
    text = output(result, tail=None)
    end = host.check_output("openssl x509 -noout -enddate -in /etc/flask-nginx/blog/tls/fullchain.pem")
    year = end.split()[-2]
    assert "blog.test" in text and re.search(rf"expires: ['\"]?{year}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ days\)", text), output(result)


def test_status_fails_when_gunicorn_is_stopped(host):
    host.run_expect([0], f"systemctl stop {UNIT}.socket {UNIT}.service")
    try:
        result = status(host, SHOP)
        assert result.returncode != 0, output(result)
        assert f"{UNIT}.service is not active" in output(result, tail=None)
        assert host.service(f"{UNIT}.service").is_running is False  # the report started nothing
    finally:
        host.run_expect([0], f"systemctl start {UNIT}.socket {UNIT}.service")
