"""The benchmark's own logic, without containers: hey's summary is read right and a fixed-rate run
that missed its rate does not count (the p99 target is then judged on the runs that held it, or
not at all); every task of the role is in one phase of a converge; each ablation changes only
its feature in the site file the role renders for the benchmark's host, and every ablated copy
passes the real `nginx -t` beside the role's files; the targets are judged as stated, the
cache's never without a measurement; the report renders the last run's results onto the
performance page."""
import copy
import difflib
import http.client
import json
import re
import socket
import subprocess
import sys
import time

import pytest

from conftest import REPO, load_yaml, main_conf, nginx_binary, nginx_t, plan

sys.path.insert(0, str(REPO))
from bench import ablations, load, measurements, phases, report  # noqa: E402  (the package, from the root)

# hey 0.1.4's summary (its default template), for a 5 s run at 2048 req/s on `/`: 10230 answers
# in 5.0021 s, i.e. 2045.2 req/s.
HEY_HELD = """
Summary:
  Total:\t5.0021 secs
  Slowest:\t0.0512 secs
  Fastest:\t0.0011 secs
  Average:\t0.0089 secs
  Requests/sec:\t2045.1530
  \n  Total data:\t11836110 bytes
  Size/request:\t1157 bytes

Response time histogram:
  0.001 [1]\t|
  0.006 [2970]\t|■■■■■■■■■■■■■■■■■■■■■■■■■■■■■
  0.011 [4098]\t|■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■
  0.016 [2110]\t|■■■■■■■■■■■■■■■■■■■■■
  0.021 [712]\t|■■■■■■■
  0.026 [201]\t|■■
  0.031 [79]\t|■
  0.036 [34]\t|
  0.041 [15]\t|
  0.046 [7]\t|
  0.051 [3]\t|


Latency distribution:
  10% in 0.0041 secs
  25% in 0.0059 secs
  50% in 0.0081 secs
  75% in 0.0112 secs
  90% in 0.0149 secs
  95% in 0.0176 secs
  99% in 0.0263 secs

Details (average, fastest, slowest):
  DNS+dialup:\t0.0000 secs, 0.0011 secs, 0.0512 secs
  DNS-lookup:\t0.0000 secs, 0.0000 secs, 0.0000 secs
  req write:\t0.0000 secs, 0.0000 secs, 0.0009 secs
  resp wait:\t0.0088 secs, 0.0010 secs, 0.0510 secs
  resp read:\t0.0001 secs, 0.0000 secs, 0.0021 secs

Status code distribution:
  [200]\t10230 responses



"""
# The same run on a setup that fell behind: 9100 answers (100 of them 502) and 12 errors in 5.4 s.
HEY_MISSED = """
Summary:
  Total:\t5.4012 secs
  Slowest:\t0.2104 secs
  Fastest:\t0.0012 secs
  Average:\t0.0412 secs
  Requests/sec:\t1687.0325
  \n  Total data:\t10412300 bytes
  Size/request:\t1144 bytes

Response time histogram:
  0.001 [1]\t|
  0.022 [3011]\t|■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■


Latency distribution:
  10% in 0.0090 secs
  25% in 0.0180 secs
  50% in 0.0350 secs
  75% in 0.0560 secs
  90% in 0.0810 secs
  95% in 0.1010 secs
  99% in 0.1620 secs

Details (average, fastest, slowest):
  DNS+dialup:\t0.0001 secs, 0.0012 secs, 0.2104 secs
  DNS-lookup:\t0.0000 secs, 0.0000 secs, 0.0000 secs
  req write:\t0.0000 secs, 0.0000 secs, 0.0011 secs
  resp wait:\t0.0410 secs, 0.0011 secs, 0.2100 secs
  resp read:\t0.0001 secs, 0.0000 secs, 0.0030 secs

Status code distribution:
  [200]\t9000 responses
  [502]\t100 responses

Error distribution:
  [12]\tGet "http://127.0.0.1/": dial tcp 127.0.0.1:80: connect: connection refused

"""
# hey prints no summary when no request got an answer (and ends with a Go panic on stderr).
HEY_NOTHING = "\n"


@pytest.fixture
def last_run():
    """A recorded benchmark run (tests/data: bench/results.json as of 2026-12-01), a copy to
    change: the report's tests judge its known numbers, so a new run of `make bench` does not
    move them."""
    return copy.deepcopy(json.loads((REPO / "tests" / "data" / "bench-run-2026-12-01.json").read_text()))


def run(achieved, target=2000.0, p50=8.0, p99=20.0):
    """A fixed-rate run as the benchmark records it."""
    return {"requests": int(achieved * 5), "errors": 0, "achieved_rps": achieved, "target_rps": target,
            "p50_ms": p50, "p99_ms": p99, "non_200": 0,
            "cpu_us_per_request": {"nginx": 60.0, "gunicorn": 600.0}}


def test_hey_summary_gives_the_answers_the_wall_time_and_the_achieved_rate():
    got = load.parse_hey(HEY_HELD)
    assert (got["requests"], got["errors"], got["non_200"]) == (10230, 0, 0)
    assert got["total_s"] == 5.0021 and got["hey_rps"] == 2045.153
    assert got["achieved_rps"] == round(10230 / 5.0021, 1) == 2045.1
    assert (got["p50_ms"], got["p99_ms"]) == (8.1, 26.3)


def test_hey_summary_counts_other_statuses_and_errors_as_not_200_and_only_answers_as_done():
    got = load.parse_hey(HEY_MISSED)
    assert got["status"] == {"200": 9000, "502": 100}
    assert (got["requests"], got["errors"], got["non_200"]) == (9100, 12, 112)
    # hey's own Requests/sec counts the errors too; the achieved rate is answers ÷ wall time.
    assert got["achieved_rps"] == round(9100 / 5.4012, 1) == 1684.8
    assert (got["p50_ms"], got["p99_ms"]) == (35.0, 162.0)


def test_a_run_without_a_summary_has_nothing_and_does_not_count():
    got = {**load.parse_hey(HEY_NOTHING), "target_rps": 2048.0}
    assert (got["requests"], got["achieved_rps"], got["p99_ms"]) == (0, 0, None)
    assert measurements.rate_problem(got) == "no answer counted (hey printed no summary)"


def test_a_run_that_held_its_rate_counts():
    assert measurements.rate_problem({**load.parse_hey(HEY_HELD), "target_rps": 2048.0}) is None


@pytest.mark.parametrize(("achieved", "counts"), [
    (1900.0, True),   # 5 % below: the limit itself holds
    (1899.0, False),  # 5.05 % below
    (2100.0, True),   # 5 % above
    (2101.0, False),  # 5.05 % above: not the rate asked for either
    (2000.0, True),
], ids=["-5.00%", "-5.05%", "+5.00%", "+5.05%", "exact"])
def test_the_tolerance_is_five_percent_either_way(achieved, counts):
    assert (measurements.rate_problem(run(achieved), tolerance=0.05) is None) == counts


def test_a_run_that_missed_its_rate_says_by_how_much():
    missed = {**load.parse_hey(HEY_MISSED), "target_rps": 2048.0}
    assert measurements.rate_problem(missed) == "achieved 1685 req/s of 2048 (-17.7 %, beyond ± 5 %)"


def test_the_latency_of_a_setup_comes_from_the_runs_that_held_the_rate_only():
    summary = measurements.latency_summary([run(2000, p99=20), run(1700, p99=90), run(1990, p99=22)])
    assert (summary["valid_runs"], summary["runs"], summary["rate_held"]) == (2, 3, False)
    assert summary["p99_ms"] == 21.0  # the median of 20 and 22; the run at 1700 req/s left out
    assert summary["achieved_rps"] == 1990  # of all runs: how far the generator got


def test_a_round_counts_for_the_p99_ratio_only_when_both_runs_held_the_rate():
    latency = {"gunicorn": [run(2000, p99=20), run(2000, p99=20), run(1500, p99=20)],
               "ours": [run(2000, p99=24), run(1800, p99=60), run(2000, p99=22)],
               "bare": [run(2000)] * 3, "quiet": [run(2000)] * 3, "gevent": [run(2000)] * 3}
    rounds = measurements.latency_ratio_rounds(latency)
    assert rounds["p99_vs_gunicorn"] == [1.2, None, None]
    assert measurements.median(rounds["p99_vs_gunicorn"]) == 1.2


def test_when_no_run_held_the_rate_the_p99_target_is_not_measured_never_passed(last_run):
    for runs in last_run["latency"]["runs"].values():
        for r in runs:
            r["achieved_rps"] = round(r["target_rps"] * 0.9, 1)
    report.summarise_latency(last_run["latency"])
    last_run["ratios"] = measurements.ratios(last_run)
    assert last_run["ratios"]["p99_vs_gunicorn"] is None
    rows = {what.split(" (")[0]: (value, v) for what, value, _, v in report.ratio_rows(last_run)}
    assert rows["p99 on `/` at 2048 req/s: ours ÷ Gunicorn alone"] == (None, "not measured")
    assert rows["p50 on `/` at the same rate: ours − Gunicorn alone"] == (None, "not measured")
    block = report.results_block(last_run)
    assert "| p99 on `/` at 2048 req/s: ours ÷ Gunicorn alone (0 of 5 rounds held the rate) | — | ≤ 1.2 | not measured |" in block
    assert "Gunicorn alone, round 1: achieved 1843 req/s of 2048 (-10.0 %, beyond ± 5 %)" in block
    assert "p99 — ms" in block


def test_the_report_names_the_runs_that_did_not_count(last_run):
    report.summarise_latency(last_run["latency"])
    # In the last run, ours fell to 1878 req/s of 2048 in its first round (and held it otherwise).
    assert [(x["setup"], x["round"]) for x in last_run["latency"]["invalid_runs"]] == [("ours", 1)]
    last_run["ratios"] = measurements.ratios(last_run)
    text = report.results_markdown(last_run)
    assert ("Runs that did not hold the rate (not counted): flask-nginx role, round 1: "
            "achieved 1878 req/s of 2048 (-8.3 %, beyond ± 5 %).") in text
    assert "| flask-nginx role | 2012 | 4 of 5 |" in text


# --- ablations of the role's server block ---------------------------------------------------------

# What each ablation may remove from and add to the site file (every changed line matches one of
# the patterns, and every pattern matches a changed line), the header and the port aside.
EXPECTED = {
    "null": ([], []),
    "log-off": ([r"access_log \S+ flask_nginx_shop_json buffer=64k flush=5s;"], [r"access_log off;"]),
    "log-unbuffered": ([r"access_log \S+ flask_nginx_shop_json buffer=64k flush=5s;"],
                       [r"access_log \S+ flask_nginx_shop_json;"]),
    "log-flush-1s": ([r"access_log .* flush=5s;"], [r"access_log \S+ flask_nginx_shop_json buffer=64k flush=1s;"]),
    "request-id-off": ([r"add_header X-Request-ID \$flask_nginx_shop_request_id always;",
                        r"proxy_set_header X-Request-ID \$flask_nginx_shop_request_id;"], []),
    "headers-off": ([rf'add_header {name} ".+" always;' for name in
                     ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Content-Security-Policy")], []),
    "forwarded-off": ([rf"proxy_set_header {name} .+;" for name in
                       ("X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
                        "X-Forwarded-Protocol", "X-Forwarded-Ssl", "Forwarded", "X-Forwarded-Prefix",
                        "X-Forwarded-Server", "X-Forwarded-Uri", "X-Original-URL", "X-Rewrite-URL")], []),
    "gzip-off": ([], [r"gzip off;"]),
    "rate-limit-on": ([], [r"limit_req_zone \$binary_remote_addr zone=bench_ablation_req:10m rate=100000r/s;",
                           r"limit_req zone=bench_ablation_req burst=40 nodelay;", r"limit_req_status 429;"]),
    "keepalive-off": ([r"proxy_pass http://shop_gunicorn;"],
                      [r"upstream bench_ablation_no_keepalive \{", r"server unix:/run/gunicorn-shop\.sock;", r"\}",
                       r"proxy_pass http://bench_ablation_no_keepalive;"]),
}
PORT = 18290  # apart from the template tests' ports (18081-18192)


@pytest.fixture(scope="module")
def nginx():
    binary = nginx_binary()
    if not binary:
        pytest.skip("no nginx binary (set FLASK_NGINX_NGINX or run scripts/bootstrap.sh)")
    return binary


@pytest.fixture(scope="module")
def role_files(tmp_path_factory):
    """The Nginx files the role renders for the benchmark's host (bench/inventory.yml's
    variables), by the role's own plan and templates; logs in the test's directory."""
    out = tmp_path_factory.mktemp("bench-site")
    variables = load_yaml(REPO / "bench" / "inventory.yml")["all"]["vars"]
    host = {name: value for name, value in variables.items() if name.startswith("flask_nginx_")}
    # No CA bundle of the controller's: the index's other keys as the inventory gives them.
    host |= {"flask_nginx_app_src": str(REPO / "molecule" / "test_app"),
             "flask_nginx_package_index": {**host.get("flask_nginx_package_index", {}), "ca_bundle": ""}}
    facts = {"__flask_nginx_access_log": f"{out}/shop.access.log", "__flask_nginx_error_log": f"{out}/shop.error.log"}
    result, _ = plan(out, {"all": {"hosts": {"bench": host}}}, facts)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    return out / "rendered" / "bench"


@pytest.fixture(scope="module")
def site(role_files):
    return (role_files / "shop.conf").read_text()


@pytest.fixture(scope="module")
def upstream(role_files):
    return (role_files / "flask-nginx-upstream-shop.conf").read_text()


def changed_lines(before, after):
    """(removed, added) lines, stripped, between two versions of a file."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return ([line[2:].strip() for line in diff if line.startswith("- ")],
            [line[2:].strip() for line in diff if line.startswith("+ ")])


def assert_lines_match(lines, patterns, what):
    unexplained = [line for line in lines if not any(re.fullmatch(p, line) for p in patterns)]
    unmatched = [p for p in patterns if not any(re.fullmatch(p, line) for line in lines)]
    assert not unexplained and not unmatched, f"{what}: lines {unexplained}, patterns {unmatched}"


def test_every_ablation_has_its_expectations():
    assert [a.key for a in ablations.ABLATIONS] == list(EXPECTED)


@pytest.mark.parametrize("ablation", ablations.ABLATIONS, ids=lambda a: a.key)
def test_an_ablation_changes_its_feature_and_nothing_else(site, upstream, ablation):
    removed, added = changed_lines(site, ablation.apply(site, upstream))
    assert_lines_match(removed, EXPECTED[ablation.key][0], "removed")
    assert_lines_match(added, EXPECTED[ablation.key][1], "added")


def ablation(key):
    return next(a for a in ablations.ABLATIONS if a.key == key)


def test_an_ablated_copy_listens_on_its_own_port_and_logs_to_its_own_file(site, upstream):
    copy_ = ablations.ablated_site(ablation("log-off"), site, PORT, upstream)
    assert re.findall(r"^\s*listen (\S+);", copy_, re.M) == [
        port for port in (f"{PORT}", f"[::]:{PORT}") if port in copy_]
    assert f"listen {PORT};" in copy_ and "listen 80;" not in copy_
    assert copy_.startswith("# Benchmark ablation log-off: the JSON access log off")
    unbuffered = ablations.ablated_site(ablation("log-unbuffered"), site, PORT, upstream)
    role_log = re.search(r"^\s*access_log (\S+)\.log ", site, re.M).group(1)
    assert re.findall(r"^\s*access_log (\S+) ", unbuffered, re.M) == [f"{role_log}-bench-log-unbuffered.log"]


def test_every_ablated_copy_passes_nginx_t_beside_the_role_files(nginx, role_files, site, upstream, tmp_path):
    copies = []
    for n, each in enumerate((ablations.CONTROL, *ablations.ABLATIONS), 1):
        copies.append(tmp_path / f"bench-ablation-{each.key}.conf")
        copies[-1].write_text(ablations.ablated_site(each, site, PORT + n, upstream))
    result = nginx_t(nginx, [role_files / "*.conf", *copies], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_an_ablation_fails_loudly_when_its_directives_are_gone(site):
    with pytest.raises(ablations.NotInSite, match="access log buffer"):
        ablations.access_log_unbuffered(ablations.access_log_unbuffered(site))
    with pytest.raises(ablations.NotInSite, match="request id"):
        ablations.request_ids_off(ablations.request_ids_off(site))
    with pytest.raises(ablations.NotInSite, match="upstream"):
        ablations.upstream_keepalive_off(site, "upstream x {\n    keepalive 32;\n}\n")


def serve(nginx, includes, tmp_path, ports):
    """A real Nginx on INCLUDES, answering on PORTS; returns the process."""
    server = subprocess.Popen([nginx, "-p", tmp_path, "-e", tmp_path / "error.log", "-c", main_conf(includes, tmp_path),
                               "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for port in ports:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.1)
    return server


def headers_of(port, path="/"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Host": "shop.test"})
    response = connection.getresponse()
    response.read()
    return {name.lower() for name, _ in response.getheaders()}


def test_ablated_copies_served_by_nginx_drop_their_headers(nginx, role_files, site, upstream, tmp_path):
    """No Gunicorn behind them (the role's error page answers), but every header the role adds
    is sent `always`: ours has the request id and the security headers, each ablation lacks its own."""
    log_conf = role_files / "flask-nginx-log-shop.conf"
    cases = {"ours": (site, PORT), "request-id-off": (ablations.request_ids_off(site), PORT + 1),
             "headers-off": (ablations.security_headers_off(site), PORT + 2)}
    for name, (text, port) in cases.items():
        (tmp_path / f"{name}.conf").write_text(ablations.with_port(text, port))
    includes = [log_conf, role_files / "flask-nginx-upstream-shop.conf", role_files / "flask-nginx-upgrade-map.conf",
                *(tmp_path / f"{name}.conf" for name in cases)]
    server = serve(nginx, includes, tmp_path, [port for _, port in cases.values()])
    try:
        got = {name: headers_of(port) for name, (_, port) in cases.items()}
    finally:
        server.terminate()
        server.wait(timeout=10)
    security = {"x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy"}
    assert security | {"x-request-id"} <= got["ours"]
    assert "x-request-id" not in got["request-id-off"] and security <= got["request-id-off"]
    assert not security & got["headers-off"] and "x-request-id" in got["headers-off"]


@pytest.mark.parametrize(("ratio", "direction", "cost"), [
    (1.05, "off", 4.8),   # 5 % faster without the feature: it costs 1 − 1/1.05
    (0.97, "off", -3.1),  # slower without it: the feature saves
    (0.97, "on", 3.0),    # 3 % slower with a feature the role leaves off
    (1.02, "none", 2.0),  # nothing changed: what noise alone gives, counted as a feature turned off
    (None, "off", None),
])
def test_the_cost_of_a_feature_is_what_it_takes_from_the_throughput(ratio, direction, cost):
    assert ablations.feature_cost_pct(ratio, direction) == cost


def with_ablation_rounds(results):
    """RESULTS with ablation pairs: log-off 5 % faster than the unchanged copy on `/` (a default
    costing 4.8 %), request ids within noise, rate limiting on 3 % slower (off by default: never
    marked)."""
    results["ablation_pairs"] = {
        "log-off": {"dynamic /": [1.04, 1.05, 1.06], "json /api/info": [1.0, 1.01, 1.02]},
        "request-id-off": {"dynamic /": [1.0, 1.01, 1.02], "json /api/info": [0.99, 1.0, 1.01]},
        "rate-limit-on": {"dynamic /": [0.96, 0.97, 0.98], "json /api/info": [0.97, 0.97, 0.97]},
    }
    results["settings"] |= {"ablation_pairs": 3, "ablation_pair_seconds": 1}
    results["ablation_checks"] = {"request-id-off": {"header": "X-Request-ID", "unchanged": True, "ablated": False}}
    report.summarise_latency(results["latency"])
    results["ratios"] = measurements.ratios(results)
    return results


def test_a_default_that_costs_more_than_two_percent_is_marked(last_run):
    costs = with_ablation_rounds(last_run)["ratios"]["ablations"]
    assert costs["log-off"]["dynamic /"] == {"ratio": 1.05, "cost_pct": 4.8, "spread_pct": [4.3, 5.2], "flag": True}
    assert costs["log-off"]["json /api/info"] == {"ratio": 1.01, "cost_pct": 1.0, "spread_pct": [0.5, 1.5],
                                                  "flag": False}
    assert costs["request-id-off"]["dynamic /"]["flag"] is False
    # Off by default: what turning it on would cost, and no default to explain.
    assert costs["rate-limit-on"]["dynamic /"] == {"ratio": 0.97, "cost_pct": 3.0, "spread_pct": [2.5, 3.5],
                                                   "flag": False}


def test_the_noise_floor_is_never_a_default_to_explain():
    costs = measurements.ablation_costs({"null": {"dynamic /": [1.03, 1.05, 1.04]}})
    assert costs["null"]["dynamic /"]["cost_pct"] == 3.8 and costs["null"]["dynamic /"]["flag"] is False


def test_ablations_are_measured_in_alternating_pairs_against_the_unchanged_copy():
    """Each pair runs the unchanged copy and the ablated one back to back, the order alternating,
    after one warm-up run of the ablated copy; a ratio is ablated ÷ unchanged of its own pair."""
    calls = []
    speed = {"control": 1000.0}

    def measure(setup, route):
        calls.append((setup, route))
        return speed.get(setup, 1100.0)

    out = measurements.ablation_pairs(pairs=4, measure=measure)
    first = [c for c in calls if c[1] == "dynamic /"][:9]
    key = ablations.ABLATIONS[0].key
    assert first == [(key, "dynamic /"), ("control", "dynamic /"), (key, "dynamic /"), (key, "dynamic /"),
                     ("control", "dynamic /"), ("control", "dynamic /"), (key, "dynamic /"),
                     (key, "dynamic /"), ("control", "dynamic /")]
    assert out[key]["dynamic /"] == [1.1, 1.1, 1.1, 1.1]
    assert set(out) == {a.key for a in ablations.ABLATIONS}
    assert "dynamic / gzip" in out["gzip-off"] and "dynamic / gzip" not in out["log-off"]


def test_the_ablation_table_names_the_role_variable_and_the_cost(last_run):
    text = report.results_markdown(with_ablation_rounds(last_run))
    assert ("| the JSON access log off | none: the role always logs (flask_nginx_logs.format: json or combined) "
            "| `dynamic /` | 1.05 | +4.8 % | +4.3 … +5.2 % | **a default that costs > 2 %** |") in text
    assert ('| rate limiting on (limit_req at 100000r/s, burst 40) | flask_nginx_rate_limit.rate (default "": off) '
            "| `dynamic /` | 0.97 | +3.0 % | +2.5 … +3.5 % |  |") in text
    assert "in 3 back-to-back pairs of 1 s runs against an unchanged copy" in text
    assert "`request-id-off`: X-Request-ID from the unchanged copy yes, from the ablated one no" in text
    block = report.results_block(last_run)
    assert "#### What each feature of the role's server block costs (ablations)" in block
    assert "| `json /api/info` | 1.01 | +1.0 % | +0.5 … +1.5 % |  |" in block


def test_a_run_without_ablations_says_they_were_not_measured(last_run):
    report.summarise_latency(last_run["latency"])
    last_run["ratios"] = measurements.ratios(last_run)
    assert "Not measured in this run." in report.results_markdown(last_run)


def test_the_chart_draws_every_panel(last_run, monkeypatch, tmp_path):
    """matplotlib stands in (the benchmark installs the real one): every panel is drawn from the data."""
    from unittest import mock
    axes = (mock.MagicMock(), mock.MagicMock(), mock.MagicMock())
    pyplot = mock.MagicMock()
    pyplot.subplots.return_value = (mock.MagicMock(), axes)
    matplotlib = mock.MagicMock(pyplot=pyplot)
    monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    report.chart(with_ablation_rounds(last_run), tmp_path)
    assert axes[0].bar.call_count == 7  # the setups side by side, no ablation among them
    assert axes[2].barh.call_args.args[1] == [4.8, 1.0, 3.0]


# --- converge phases -----------------------------------------------------------------------------

# The end of a profiled converge (ansible.posix.profile_tasks, 80 columns: a name padded with
# dashes to 71, then the time right-aligned in 9; a longer name is not padded).
RECAP = """
PLAY RECAP *********************************************************************
flask-nginx-bench          : ok=131  changed=70   unreachable=0    failed=0    skipped=60   rescued=0    ignored=0

TASKS RECAP ********************************************************************
Wednesday 02 December 2026  10:00:00 +0000 (0:00:00.520)       0:01:05.871 ****
===============================================================================
flask_nginx : Ensure the packages the role uses are installed ---------- 13.56s
flask_nginx : Ensure the release's virtualenv has the requirements file's packages, with uv --- 6.37s
flask_nginx : Ensure the Nginx files are rendered (with a backup of the previous ones) -- 6.06s
flask_nginx : Ensure Gunicorn is enabled and running -------------------- 2.10s
flask_nginx : Check the whole Nginx configuration ------------------------ 0.61s
flask_nginx : Reload nginx ----------------------------------------------- 0.40s
Gathering Facts --------------------------------------------------------- 1.07s
flask_nginx : A task this table has never heard of ---------------------- 0.30s
"""


@pytest.fixture(scope="module")
def table():
    return phases.Phases()


def test_every_task_file_of_the_role_has_a_phase():
    role = REPO / "roles" / "flask_nginx"
    files = {str(p.relative_to(role)) for p in [*(role / "tasks").glob("*.yml"), role / "handlers" / "main.yml"]}
    assert set(phases.FILE_PHASES) == files


def test_every_task_named_in_the_table_is_a_task_of_the_role():
    assert [name for name in phases.TASK_PHASES if name not in phases.task_index()] == []


def test_no_task_of_a_converge_is_in_two_phases():
    index = phases.task_index()
    twice = {name: files for name, files in index.items()
             if len({phases.phase_of_task(name, f) for f in files if phases.FILE_PHASES.get(f)}) > 1}
    assert twice == {}


def test_the_recap_is_read_in_full_long_names_too():
    tasks = phases.recap_tasks(RECAP)
    assert len(tasks) == 8
    assert tasks[2] == ["flask_nginx : Ensure the Nginx files are rendered (with a backup of the previous ones)", 6.06]
    assert phases.recap_tasks("PLAY RECAP\nno profile here\n") == []


@pytest.mark.parametrize(("task", "phase"), [
    ("flask_nginx : Ensure the packages the role uses are installed", "packages"),
    ("flask_nginx : Ensure the release's virtualenv has the requirements file's packages, with uv", "virtualenvs and dependencies"),
    ("flask_nginx : Ensure the release's virtualenv has the requirements file's packages, with pip", "virtualenvs and dependencies"),
    ("flask_nginx : Ensure the Gunicorn virtualenv has the pinned Gunicorn (and gevent when chosen), with uv",
     "virtualenvs and dependencies"),
    ("flask_nginx : Ensure uv is installed, at the role's pinned version", "virtualenvs and dependencies"),
    ("flask_nginx : Ensure the Nginx files are rendered (with a backup of the previous ones)", "files"),
    ("flask_nginx : Ensure the pages shown while the app is down or in maintenance are in place", "files"),
    ("flask_nginx : Ensure the systemd socket and service units are in place", "files"),
    ("flask_nginx : Ensure pip trusts the configured CA bundle", "files"),
    ("flask_nginx : Ensure the release holds the app's code from the controller", "files"),
    ("flask_nginx : Ensure Gunicorn is enabled and running", "services"),
    ("flask_nginx : Reload nginx", "services"),
    ("flask_nginx : Check the whole Nginx configuration", "checks"),
    ("flask_nginx : Check that the new release loads its app", "checks"),
    ("flask_nginx : Read the host's packages, release, units and account in one round trip", "checks"),
    ("flask_nginx : Check that the app answers", "checks"),
    ("flask_nginx : Request one certificate for all server names (http-01)", "files"),  # a name with Jinja in it
    ("Gathering Facts", "other"),
    ("Read a file's state", "other"),  # bench/floor.yml's, not the role's
])
def test_a_task_falls_in_the_phase_of_its_work(table, task, phase):
    assert table.of(task) == phase


def test_the_last_runs_slowest_tasks_all_have_a_phase(table, last_run):
    """Every task of the last run that the role still has (a task renamed since is "other")."""
    current = phases.task_index()
    for key in ("first_slowest", "again_slowest"):
        for name, _ in last_run["converge"]["single"][key]:
            if phases.ROLE_PREFIX.sub("", name) in current:
                assert table.of(name) != "other", name


def test_the_phases_add_up_to_the_tasks_beside_the_converge(table):
    got = table.sum_up(phases.recap_tasks(RECAP), 65.9)
    assert got["phases"] == {"packages": 13.6, "virtualenvs and dependencies": 6.4, "files": 6.1, "services": 2.5,
                             "checks": 0.6, "other": 1.4}
    assert (got["tasks_s"], got["total_s"]) == (30.5, 65.9)


def test_the_report_shows_the_first_converge_by_phase(last_run):
    last_run["converge"]["single"]["first_tasks"] = phases.recap_tasks(RECAP)
    report.summarise_latency(last_run["latency"])
    last_run["phases"] = report.converge_phases(last_run["converge"])
    last_run["ratios"] = measurements.ratios(last_run)
    text = report.results_markdown(last_run)
    assert "| packages | 13.6 s (45 %) |" in text
    assert "| **every task** | 30.5 s |" in text
    assert "| **the converge** (Ansible's start-up and the play's own work besides) | 63.3 s |" in text
    assert "#### First converge by phase" in report.results_block(last_run)


def test_a_run_that_kept_only_the_slowest_tasks_has_no_phases(last_run):
    report.summarise_latency(last_run["latency"])
    last_run["phases"] = report.converge_phases(last_run["converge"])
    last_run["ratios"] = measurements.ratios(last_run)
    assert last_run["phases"] == {}
    assert "Not measured in this run (it kept the slowest tasks only)." in report.results_markdown(last_run)


# --- targets -------------------------------------------------------------------------------------

def judged(results):
    """{what (before any parenthesis): (value, target text, verdict)} of the report's rows."""
    report.summarise_latency(results["latency"])
    results["ratios"] = measurements.ratios(results)
    return {what.split(" (")[0]: (value, target, v) for what, value, target, v in report.ratio_rows(results)}


def test_an_idempotent_re_run_must_take_at_most_seven_seconds(last_run):
    rows = judged(last_run)
    assert rows["idempotent single-host re-run, s"] == (10.1, "≤ 7 s", "**missed**")
    assert rows["same with Mitogen"] == (9.3, "≤ 7 s", "**missed**")
    last_run["converge"]["single"]["again_s"] = 7.0
    assert judged(last_run)["idempotent single-host re-run, s"] == (7.0, "≤ 7 s", "met")


def test_the_fleet_is_judged_against_one_and_a_half_single_hosts_with_its_cpu_floor(last_run):
    rows = judged(last_run)
    assert rows["fleet 1 + 4 first converge ÷ single host"] == (1.94, "≤ 1.5", "**missed**")
    floor = rows["its floor: the fleet's CPU time"]
    assert floor == (round(219.5 / 2 / 63.3, 2), "", "")


def test_the_p99_target_is_at_most_one_point_two_times_gunicorn_alone(last_run):
    rows = judged(last_run)
    # The last run: ours's first round did not hold the rate; the other four give the median.
    assert rows["p99 on `/` at 2048 req/s: ours ÷ Gunicorn alone"][1:] == ("≤ 1.2", "**missed**")


def test_without_a_cache_in_the_role_its_targets_are_not_measured(tmp_path, last_run):
    defaults = tmp_path / "main.yml"
    defaults.write_text("---\nflask_nginx_app_name: flaskapp\n")  # a role without flask_nginx_cache_paths
    last_run["cache"] = measurements.cache_measurements(defaults)
    assert last_run["cache"] == {"measured": False, "reason": "not measured: no cache in this version"}
    rows = judged(last_run)
    assert rows["cached route ÷ seed block, the same route"] == (None, "≥ 10", "not measured: no cache in this version")
    assert rows["with the app stopped: a cached route answers 200, the others the role's error page"] == (
        None, "yes", "not measured: no cache in this version")
    assert "| cached route ÷ seed block, the same route | — | ≥ 10 | not measured: no cache in this version |" in \
        report.results_block(last_run)


def test_a_role_with_a_cache_is_judged_on_what_the_cache_run_measured(tmp_path, last_run):
    """With flask_nginx_cache_paths in the role, the cache run's own numbers are judged: a ratio
    below 10 misses, and a stale page that did not come with the app stopped is a miss."""
    defaults = tmp_path / "main.yml"
    defaults.write_text("---\nflask_nginx_cache_paths: []\n")
    for measured, verdicts in [({"cached_vs_seed": 12.5, "app_stopped": "yes"}, ("met", "met")),
                               ({"cached_vs_seed": 4.0, "app_stopped": "no"}, ("**missed**", "**missed**"))]:
        last_run["cache"] = measurements.cache_measurements(defaults, measure=lambda m=measured: {"measured": True, **m})
        rows = judged(last_run)
        assert rows["cached route ÷ seed block, the same route"] == (measured["cached_vs_seed"], "≥ 10", verdicts[0])
        assert rows["with the app stopped: a cached route answers 200, the others the role's error page"] == (
            measured["app_stopped"], "yes", verdicts[1])


def test_the_cache_run_reads_status_and_cache_state_from_a_real_answer(monkeypatch):
    """The answer parser on curl -i's output: the status, X-Cache-Status, and the role's error page."""
    class Done:
        def __init__(self, stdout):
            self.stdout = stdout
    # As sh() returns it: text mode has turned curl's CRLF into LF.
    stale = "HTTP/1.1 200 OK\nServer: nginx\nX-Cache-Status: STALE\n\n{\"name\": \"cached\"}"
    monkeypatch.setattr(measurements, "dexec", lambda *a, **k: Done(stale))
    assert measurements.answer("/api/info", "cached.test") == {"status": 200, "cache": "STALE", "error_page": False}
    page = "HTTP/1.1 502 Bad Gateway\nContent-Type: text/html\n\n<html><main><h1>Unavailable</h1></main>"
    monkeypatch.setattr(measurements, "dexec", lambda *a, **k: Done(page))
    assert measurements.answer("/", "cached.test") == {"status": 502, "cache": "", "error_page": True}


def test_a_run_before_the_cache_hook_says_so(last_run):
    assert judged(last_run)["cached route ÷ seed block, the same route"][2] == "not measured in this run"


# --- where the results go ------------------------------------------------------------------------

def test_the_results_block_lives_on_the_performance_page_not_in_the_readme():
    page = (REPO / "docs" / "performance.md").read_text()
    assert page.count(report.RESULTS_BEGIN) == 1 and page.count(report.RESULTS_END) == 1
    assert "BENCH RESULTS" not in (REPO / "README.md").read_text()
    assert report.RESULTS_PAGE == REPO / "docs" / "performance.md"
    after = page.split(report.RESULTS_END, 1)[1]
    assert "](../bench/results.png)" in after.split("\n## ", 1)[0], "the chart follows the block"


def test_the_block_has_the_day_of_the_run_and_no_hour(last_run):
    report.summarise_latency(last_run["latency"])
    last_run["ratios"] = measurements.ratios(last_run)
    block = report.results_block(last_run)
    assert "### Results (2026-12-01, 2 cores, AMD EPYC)" in block
    assert not re.search(r"\b\d\d:\d\d\b", block), "an hour names a run: it belongs in results.json"


def test_writing_the_page_replaces_the_block_and_keeps_the_rest(last_run, tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(f"# Performance\n\nbefore\n\n{report.RESULTS_BEGIN}\nold figures\n{report.RESULTS_END}\n\nafter\n")
    report.summarise_latency(last_run["latency"])
    last_run["ratios"] = measurements.ratios(last_run)
    report.write_results_page(last_run, page)
    text = page.read_text()
    assert text.startswith("# Performance\n\nbefore\n\n" + report.RESULTS_BEGIN) and text.endswith(report.RESULTS_END + "\n\nafter\n")
    assert "old figures" not in text and text.count(report.RESULTS_BEGIN) == 1


# --- entry points ----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["-m", "bench"], ["bench/run.py"]], ids=["python -m bench", "bench/run.py"])
def test_the_entry_points_explain_themselves_and_start_nothing_on_an_unknown_option(command):
    shown = subprocess.run([sys.executable, *command, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "python -m bench --report" in shown.stdout, shown.stderr
    refused = subprocess.run([sys.executable, *command, "--no-such-option"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "python -m bench" in refused.stderr
    assert "converging" not in refused.stdout


def test_make_bench_runs_the_package():
    assert 'exec .venv/bin/python -m bench "$@"' in (REPO / "scripts" / "bench.sh").read_text()


def test_static_files_must_be_one_point_two_times_the_seed_block(last_run):
    """The issue's static target (ours ÷ seed ≥ 1.2 on static routes), dynamic routes at ≥ 1."""
    rows = judged(last_run)
    assert rows["ours ÷ seed block, `static css`"] == (1.2, "≥ 1.2", "met")
    assert rows["ours ÷ seed block, `dynamic /`"] == (0.98, "≥ 1", "**missed**")
    assert report.target_row("static", 1.19, "static_vs_seed")[2:] == ("≥ 1.2", "**missed**")
