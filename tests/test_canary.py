"""The canary of playbooks/deploy.yml without a host: what files/canary_stats.py counts in a
load balancer's JSON access log, the plan plugin's verdict on those counts, and the rules of
the canary's variables."""
import json
import subprocess
import sys

import pytest

from conftest import ROLE, SAMPLE_APP, plan_module, role_context, role_options, role_values

PLAN = plan_module()
OPTIONS = role_options()
STATS = ROLE / "files" / "canary_stats.py"
CANARY = "10.0.0.11:8000"
OTHER = "10.0.0.12:8000"
SETTINGS = {"flask_nginx_canary_max_error_ratio": 0.01, "flask_nginx_canary_min_requests": 20,
            "flask_nginx_canary_max_p99_ms": 0}


def line(addr, status, seconds, upstream_status=None, final=None):
    entry = {"time": "2026-12-02T10:00:00+00:00", "upstream_addr": addr, "upstream_response_time": seconds,
             "status": final if final is not None else int(str(status).rsplit(", ", 1)[-1])}
    if upstream_status is not False:
        entry["upstream_status"] = upstream_status if upstream_status is not None else str(status)
    return json.dumps(entry) + "\n"


def stats(tmp_path, text, offset=0, addresses=(CANARY,)):
    log = tmp_path / "access.log"
    log.write_text(text)
    out = subprocess.run([sys.executable, str(STATS), str(log), str(offset), json.dumps(list(addresses))],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_only_the_canarys_answers_after_the_offset_are_counted(tmp_path):
    before = line(CANARY, 500, "0.010") * 3  # the old release's answers, before the canary took traffic
    after = line(CANARY, 200, "0.004") * 4 + line(CANARY, 503, "0.120") + line(OTHER, 500, "0.002") * 5
    found = stats(tmp_path, before + after, offset=len(before))
    assert found == {"requests": 5, "errors": 1, "times": {"4": 4, "120": 1}, "skipped": 0}


def test_a_retried_request_counts_at_each_host_it_tried(tmp_path):
    """The canary answered 502 and Nginx passed the request on: the client got a 200, and the
    canary's error is still counted (a final status alone would hide it)."""
    text = line(f"{CANARY}, {OTHER}", "502, 200", "0.001, 0.020") + line(f"{OTHER}, {CANARY}", "502, 200", "0.003, 0.007")
    assert stats(tmp_path, text) == {"requests": 2, "errors": 1, "times": {"1": 1, "7": 1}, "skipped": 0}


def test_a_log_line_without_upstream_status_takes_the_answers_status(tmp_path):
    text = line(CANARY, 500, "0.002", upstream_status=False) + line(CANARY, 200, "0.002", upstream_status=False)
    assert stats(tmp_path, text)["errors"] == 1


def test_a_rotated_log_is_read_from_its_start_and_broken_lines_are_skipped(tmp_path):
    text = "not json\n" + line(CANARY, 200, "0.002") + '{"torn'
    assert stats(tmp_path, text, offset=10_000) == {"requests": 1, "errors": 0, "times": {"2": 1}, "skipped": 2}


def test_a_missing_log_counts_nothing(tmp_path):
    out = subprocess.run([sys.executable, str(STATS), str(tmp_path / "none.log"), "0", json.dumps([CANARY])],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["requests"] == 0


def verdict(*counts, **settings):
    return PLAN.canary_verdict({**SETTINGS, **settings}, list(counts), ["app1"])


def test_a_canary_within_the_error_ratio_passes_and_the_output_names_its_numbers():
    found = verdict({"requests": 300, "errors": 3, "times": {"5": 297, "80": 3}})
    assert found["ok"] and found["enough"] and found["ratio"] == 0.01
    assert found["text"] == ("canary app1: 300 requests, 3 answered 5xx (ratio 0.0100, at most 0.01 allowed), "
                             "p99 5 ms: the canary passed")


def test_a_canary_over_the_error_ratio_fails_naming_the_ratio():
    found = verdict({"requests": 100, "errors": 6, "times": {}}, {"requests": 100, "errors": 4, "times": {}})
    assert not found["ok"] and found["errors"] == 10 and found["ratio"] == 0.05
    assert "its 5xx ratio 0.0500 is above flask_nginx_canary_max_error_ratio 0.01 - the canary failed" in found["text"]


def test_the_p99_is_taken_over_every_load_balancers_answers_and_bounded_when_asked():
    counts = [{"requests": 98, "errors": 0, "times": {"10": 98}}, {"requests": 2, "errors": 0, "times": {"900": 2}}]
    assert verdict(*counts)["p99_ms"] == 900 and verdict(*counts)["ok"]  # 0 = not checked
    slow = verdict(*counts, flask_nginx_canary_max_p99_ms=500)
    assert not slow["ok"] and "its p99 900 ms is above flask_nginx_canary_max_p99_ms 500" in slow["text"]
    assert verdict({"requests": 100, "errors": 0, "times": {"10": 99, "900": 1}}, flask_nginx_canary_max_p99_ms=500)["ok"]


def test_too_few_requests_leave_the_decision_to_the_health_check_and_say_so():
    found = verdict({"requests": 19, "errors": 19, "times": {}})
    assert found["ok"] and not found["enough"]
    assert "fewer than 20 requests (flask_nginx_canary_min_requests) reached the canary, so the decision rests on " \
           "the health check alone" in found["text"]


def refusals(**overrides):
    values = role_values(flask_nginx_app_src=SAMPLE_APP, **overrides)
    return PLAN.make_plan(values, OPTIONS, role_context(values), "rules")[1]


@pytest.mark.parametrize("overrides, refused", [
    ({"flask_nginx_canary_hosts": -1}, "flask_nginx_canary_hosts, flask_nginx_canary_seconds"),
    ({"flask_nginx_canary_seconds": 0}, "flask_nginx_canary_hosts, flask_nginx_canary_seconds"),
    ({"flask_nginx_canary_max_error_ratio": 1.0}, "flask_nginx_canary_max_error_ratio = 1.0 is refused"),
    ({"flask_nginx_canary_max_error_ratio": -0.1}, "flask_nginx_canary_max_error_ratio = -0.1 is refused"),
    ({"flask_nginx_canary_hosts": 1, "flask_nginx_logs": {"format": "combined"}},
     "flask_nginx_canary_hosts = 1 is refused: 0 (no canary) while flask_nginx_logs.format is combined"),
])
def test_bad_canary_settings_are_refused_before_any_change(overrides, refused):
    found = " | ".join(refusals(**overrides))
    assert refused in found, found


@pytest.mark.parametrize("overrides", [{}, {"flask_nginx_canary_hosts": 2, "flask_nginx_canary_seconds": 30},
                                       {"flask_nginx_canary_max_error_ratio": 0, "flask_nginx_canary_max_p99_ms": 250},
                                       {"flask_nginx_canary_hosts": "1"}])
def test_good_canary_settings_pass(overrides):
    assert refusals(**overrides) == []
