"""The host's metrics (one stub_status, one exporter) are shared by the apps that turn them on:
each keeps a marker, and the last app to turn them off takes them away. The plan function is
called directly, with what a probe would have found."""
from conftest import SAMPLE_APP, plan_module, role_context, role_options, role_values

PLAN = plan_module()
OPTIONS = role_options()
EXPORTER = "prometheus-nginx-exporter.service"
MARKERS = "/etc/flask-nginx/metrics.d"


def metrics(metrics_on, markers, exporter_up=True, stub_status=True):
    values = role_values(flask_nginx_app_src=SAMPLE_APP, flask_nginx_app_name="shop", flask_nginx_metrics=metrics_on)
    probe = {"globs": {"metrics_apps": [f"{MARKERS}/{app}" for app in markers]},
             "units": {EXPORTER: {"enabled": "enabled", "active": "active"} if exporter_up else
                       {"enabled": "disabled", "active": "inactive"}},
             "paths": {"stub_status": {"type": "file" if stub_status else "absent"}}}
    plan, refused = PLAN.make_plan(values, OPTIONS, role_context(values, probe=probe))
    assert not refused, refused
    return plan["metrics"]


def test_an_app_with_metrics_keeps_its_marker_and_takes_nothing_away():
    found = metrics(True, ["shop"])
    assert found["marker"] == f"{MARKERS}/shop" and found["marker_found"]
    assert not found["stop_exporter"] and not found["remove_stub_status"]
    assert not metrics(True, [])["marker_found"]  # written by this run


def test_the_last_app_to_turn_metrics_off_takes_them_away():
    found = metrics(False, ["shop"])
    assert found["marker_found"] and found["other_apps"] == []
    assert found["stop_exporter"] and found["remove_stub_status"]


def test_metrics_stay_while_another_app_of_the_host_uses_them():
    found = metrics(False, ["shop", "blog"])
    assert found["other_apps"] == ["blog"]
    assert not found["stop_exporter"] and not found["remove_stub_status"]


def test_nothing_to_take_away_once_gone():
    found = metrics(False, [], exporter_up=False, stub_status=False)
    assert not found["marker_found"] and not found["stop_exporter"] and not found["remove_stub_status"]
