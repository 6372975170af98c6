"""The deploy lock of an app (module flask_nginx_lock): a run takes it, takes it again
(re-entry renews it), gives it back; another run is refused with the holder named; a lock
left by a dead run expires or is broken; check mode writes nothing. The module's functions
run on a temporary directory; tests/lock.yml runs the role's own lock step (tasks/lock.yml)
on made-up hosts of this machine: another run's lock on one app host stops every host."""
import json
import os
import stat
import time

import pytest

from conftest import SAMPLE_APP, ansible_playbook, role_module

lock = role_module("flask_nginx_lock")

ALICE = {"id": "20250101T100000Z-0000a11c", "user": "alice", "host": "ctl.example", "playbook": "deploy.yml",
         "started": "2025-01-01T10:00:00+00:00"}
BOB = {"id": "20250101T100500Z-00000b0b", "user": "bob", "host": "laptop", "playbook": "site.yml",
       "started": "2025-01-01T10:05:00+00:00"}
NOW = 1_750_000_000.0


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "shop" / "deploy.lock")


def holder(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_a_free_lock_is_taken_atomically_and_names_the_run(path):
    answer = lock.acquire(path, ALICE, 1800, now=NOW)
    assert answer["acquired"] and answer["taken"] and not answer["broken"]
    assert holder(path) == {**ALICE, "since": "2025-06-15T15:06:40+00:00"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(os.path.dirname(path)) == ["deploy.lock"]  # no temporary file left
    # The directory did not exist: made, and that is a change; taking the lock alone is not.
    assert answer["changed"] is True
    os.unlink(path)
    assert lock.acquire(path, ALICE, 1800, now=NOW)["changed"] is False


def test_the_run_that_holds_the_lock_takes_it_again_and_renews_it(path):
    lock.acquire(path, ALICE, 1800, now=NOW)
    before = holder(path)
    again = lock.acquire(path, ALICE, 1800, now=NOW + 1000)
    assert again["acquired"] and not again["taken"] and not again["changed"]
    assert holder(path) == before  # the same holder, since the first time
    assert os.stat(path).st_mtime == NOW + 1000  # renewed: it expires 1800 s from now
    assert lock.acquire(path, BOB, 1800, now=NOW + 2500)["acquired"] is False


def test_another_run_is_refused_with_the_holder_named(path):
    lock.acquire(path, ALICE, 1800, now=NOW)
    answer = lock.acquire(path, BOB, 1800, now=NOW + 125)
    assert not answer["acquired"] and not answer["taken"] and not answer["changed"]
    assert answer["holder"]["user"] == "alice" and answer["age"] == 125
    assert answer["msg"] == ("held by alice@ctl.example running deploy.yml (run 20250101T100000Z-0000a11c) "
                             "since 2025-06-15T15:06:40+00:00 (2 min ago)")
    assert holder(path)["id"] == ALICE["id"]


def test_a_lock_not_renewed_for_the_timeout_is_taken_over_with_a_warning(path):
    lock.acquire(path, ALICE, 1800, now=NOW)
    assert not lock.acquire(path, BOB, 1800, now=NOW + 1800)["acquired"]  # not older than the timeout yet
    answer = lock.acquire(path, BOB, 1800, now=NOW + 1801)
    assert answer["acquired"] and answer["taken"] and answer["changed"]
    assert answer["broken"]["user"] == "alice"
    assert "alice@ctl.example running deploy.yml" in answer["warnings"][0]
    assert "more than flask_nginx_lock_timeout (1800 s)" in answer["warnings"][0]
    assert holder(path)["id"] == BOB["id"]


def test_force_breaks_a_fresh_lock_with_a_warning(path):
    lock.acquire(path, ALICE, 1800, now=NOW)
    answer = lock.acquire(path, BOB, 1800, force=True, now=NOW + 5)
    assert answer["acquired"] and answer["broken"]["id"] == ALICE["id"]
    assert "flask_nginx_lock_break is true" in answer["warnings"][0]
    assert holder(path)["id"] == BOB["id"]


def test_a_lock_file_that_does_not_parse_is_a_holder_aged_by_its_file(path):
    os.makedirs(os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("{half")
    os.utime(path, (NOW, NOW))
    refused = lock.acquire(path, BOB, 1800, now=NOW + 60)
    assert not refused["acquired"] and "?@? running ?" in refused["msg"]
    assert lock.acquire(path, BOB, 1800, now=NOW + 1801)["acquired"]


def test_check_mode_writes_nothing_and_still_finds_another_holder(tmp_path, path):
    free = lock.acquire(path, ALICE, 1800, check=True, now=NOW)
    assert free["acquired"] and not os.path.exists(os.path.dirname(path))
    lock.acquire(path, ALICE, 1800, now=NOW)
    refused = lock.acquire(path, BOB, 1800, check=True, now=NOW + 10)
    assert not refused["acquired"] and refused["holder"]["user"] == "alice"
    stale = lock.acquire(path, BOB, 1800, check=True, now=NOW + 4000)
    assert stale["acquired"] and stale["broken"]["user"] == "alice"
    assert holder(path)["id"] == ALICE["id"]
    assert lock.release(path, ALICE, check=True, now=NOW)["released"] and os.path.exists(path)


def test_a_run_gives_back_its_own_lock_only(path):
    assert lock.release(path, ALICE)["released"] is False  # no directory, no lock: nothing to do
    lock.acquire(path, ALICE, 1800, now=NOW)
    kept = lock.release(path, BOB, now=NOW)
    assert not kept["released"] and os.path.exists(path)
    assert "held by alice@ctl.example" in kept["warnings"][0]
    given = lock.release(path, ALICE, now=NOW)
    assert given["released"] and not given["changed"] and not os.path.exists(path)
    assert lock.release(path, ALICE, now=NOW)["released"] is False


def test_reading_the_lock_names_the_holder_and_says_when_it_is_stale(path):
    assert lock.inspect(path, 1800, now=NOW)["msg"] == "free"
    lock.acquire(path, ALICE, 1800, now=NOW)
    fresh = lock.inspect(path, 1800, now=NOW + 30)
    assert fresh["holder"]["user"] == "alice" and not fresh["stale"] and fresh["msg"].startswith("held by alice@")
    stale = lock.inspect(path, 1800, now=NOW + 7300)
    assert stale["stale"] and "2 h 1 min ago" in stale["msg"] and "the next run takes it over" in stale["msg"]


def test_a_run_without_an_id_cannot_take_the_lock(path):
    with pytest.raises(ValueError):
        lock.acquire(path, {"user": "alice"}, 1800)


# The role's lock step on a made-up fleet: lb1 (load balancer), app1 and app2 (app hosts),
# all this machine, each app host with its own lock file (tests/lock.yml).
FLEET = {"all": {"vars": {"flask_nginx_app_src": SAMPLE_APP, "flask_nginx_app_name": "shop",
                          "flask_nginx_server_names": ["shop.test"]},
                 "children": {"flask_lb": {"hosts": {"lb1": {}}},
                              "flask_app": {"hosts": {"app1": {"flask_nginx_app_address": "10.0.0.11"},
                                                      "app2": {"flask_nginx_app_address": "10.0.0.12"}}}}}}


def plant(out, host, run, age=0):
    """A lock on HOST held by RUN, last renewed AGE seconds ago."""
    out.mkdir(exist_ok=True)
    path = out / f"{host}.lock"
    path.write_text(json.dumps({**run, "since": "2025-01-01T10:00:00+00:00"}))
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def run_lock_play(out, args=()):
    """tests/lock.yml on FLEET; the locks and the reports are in OUT/locks."""
    result = ansible_playbook("lock.yml", {"lock_dir": str(out / "locks")}, out, inventory=FLEET, args=args)
    return result, result.stdout + result.stderr


def test_another_runs_lock_on_one_app_host_stops_every_host_and_gives_back_the_others(tmp_path):
    planted = plant(tmp_path / "locks", "app2", ALICE)
    result, output = run_lock_play(tmp_path)
    assert result.returncode != 0, output
    text = " ".join(output.split())
    assert "another run is deploying shop: the deploy lock on app2 is held by alice@ctl.example running deploy.yml" in text
    assert "since 2025-01-01T10:00:00+00:00" in text and "flask_nginx_lock_break=true" in text, output
    for host in ("lb1", "app1", "app2"):
        assert f"failed: [{host}]" in output or f"fatal: [{host}]" in output, output
    assert not (tmp_path / "locks" / "app1.lock").exists(), "the lock this run took on app1 was not given back"
    assert json.loads(planted.read_text())["id"] == ALICE["id"]
    assert not list((tmp_path / "locks").glob("*.json")), "a host went on past the lock"


def test_expired_and_broken_locks_are_taken_over_and_the_run_takes_its_own_again(tmp_path):
    """app1's lock expired (not renewed for 2 h); app2's is fresh but broken with
    -e flask_nginx_lock_break=true (a string, as -e gives it). Both are taken over with a
    warning, taken again by the same run (re-entry), and given back at the end."""
    plant(tmp_path / "locks", "app1", ALICE, age=7200)
    plant(tmp_path / "locks", "app2", BOB)
    result, output = run_lock_play(tmp_path, args=("-e", "flask_nginx_lock_break=true"))
    assert result.returncode == 0, output
    text = " ".join(output.split())
    assert "took over the deploy lock held by alice@ctl.example" in text and "its run died" in text, output
    assert "took over the deploy lock held by bob@laptop running site.yml" in text, output
    reports = {host: json.loads((tmp_path / "locks" / f"{host}.json").read_text()) for host in ("lb1", "app1", "app2")}
    for host in ("app1", "app2"):
        first, again, held = reports[host]["first"], reports[host]["again"], reports[host]["held"]
        assert first["acquired"] and first["taken"] and first["broken"], first
        assert again["acquired"] and not again["taken"], again
        assert held["id"] == reports["app1"]["held"]["id"] != ALICE["id"]  # one run id for the whole run
        assert held["playbook"] == "lock.yml" and held["user"] and held["host"], held
        assert not (tmp_path / "locks" / f"{host}.lock").exists(), f"{host}'s lock was not given back"
    assert reports["lb1"]["first"].get("skipped"), "a load balancer took a lock"


def test_check_mode_still_stops_at_another_runs_lock_and_writes_nothing(tmp_path):
    planted = plant(tmp_path / "locks", "app2", ALICE)
    result, output = run_lock_play(tmp_path, args=("--check",))
    assert result.returncode != 0, output
    assert "held by alice@ctl.example" in " ".join(output.split()), output
    assert sorted(p.name for p in (tmp_path / "locks").glob("*.lock")) == ["app2.lock"]
    assert json.loads(planted.read_text())["id"] == ALICE["id"]
