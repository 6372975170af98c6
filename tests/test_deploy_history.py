"""The deploy history of an app (module flask_nginx_history): one JSON line per deploy,
rollback or failed run, with the run that made it; only its own fields are ever written
(no setting of the app), root's file mode 0640; the last events read back newest first,
one line of text each, as playbooks/status.yml shows them."""
import json
import os
import stat

from conftest import role_module

history = role_module("flask_nginx_history")

RUN = {"id": "20250101T100000Z-0000a11c", "user": "alice", "host": "ctl.example", "playbook": "deploy.yml",
       "started": "2025-01-01T10:00:00+00:00"}
NOW = 1_750_000_000.0


def test_an_event_is_one_json_line_of_its_own_fields_in_a_fixed_order():
    item = history.entry({"kind": "deploy", "result": "ok", "release": "4f2a9c1b3d5e", "previous": "1a2b3c4d5e6f",
                          "SECRET_KEY": "s3cr3t"}, {**RUN, "env": {"SECRET_KEY": "s3cr3t"}}, NOW)
    text = history.line(item)
    assert text == ('{"time":"2025-06-15T15:06:40+00:00","kind":"deploy","result":"ok","release":"4f2a9c1b3d5e",'
                    '"previous":"1a2b3c4d5e6f","run":{"id":"20250101T100000Z-0000a11c","user":"alice",'
                    '"host":"ctl.example","playbook":"deploy.yml"}}\n')
    assert "s3cr3t" not in text and text.count("\n") == 1


def test_a_failure_message_is_one_line_cut_to_300_characters():
    message = "Check that the new release loads its app: flask_nginx: release does not load\n" + "x" * 400
    item = history.entry({"kind": "deploy", "result": "failed", "message": message}, RUN, NOW)
    assert "\n" not in item["message"] and len(item["message"]) == 300 and item["message"].endswith("...")
    assert history.line(item).count("\n") == 1


def test_events_are_appended_to_a_root_file_of_mode_0640(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text("")
    os.chmod(path, 0o644)
    for n in range(3):
        history.append(str(path), history.entry({"kind": "deploy", "result": "ok", "release": f"r{n}"}, RUN, NOW + n))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert [json.loads(line)["release"] for line in path.read_text().splitlines()] == ["r0", "r1", "r2"]
    history.append(str(path), history.entry({"kind": "deploy", "result": "ok"}, RUN, NOW), check=True)
    assert len(path.read_text().splitlines()) == 3  # check mode writes nothing


def test_the_last_events_are_read_from_the_end_skipping_lines_that_do_not_parse(tmp_path):
    path = tmp_path / "history.jsonl"
    assert history.last(str(path), 10) == []  # no history yet
    lines = [history.line(history.entry({"kind": "deploy", "result": "ok", "release": f"{n:012x}"}, RUN, NOW + n))
             for n in range(2000)]
    path.write_text("".join(lines[:1000]) + "not json\n" + "".join(lines[1000:]))
    assert path.stat().st_size > history.TAIL_BYTES  # only the tail is read
    last = history.last(str(path), 10)
    assert [e["release"] for e in last] == [f"{n:012x}" for n in range(1990, 2000)]
    assert history.last(str(path), 0) == []


def test_each_event_reads_as_one_line_naming_who_did_what():
    deploy = history.entry({"kind": "deploy", "result": "ok", "release": "4f2a9c1b3d5e", "previous": "1a2b3c4d5e6f"},
                           RUN, NOW)
    assert history.describe(deploy) == ("2025-06-15T15:06:40+00:00 deploy ok 4f2a9c1b3d5e (was 1a2b3c4d5e6f) "
                                        "by alice@ctl.example with deploy.yml")
    first = history.entry({"kind": "deploy", "result": "ok", "release": "4f2a9c1b3d5e"}, RUN, NOW)
    assert " (was " not in history.describe(first)
    failed = history.entry({"kind": "rollback", "result": "failed", "message": "Check that the app answers: 502"},
                           {}, NOW)
    assert history.describe(failed) == ("2025-06-15T15:06:40+00:00 rollback failed - by ?@? with ?: "
                                        "Check that the app answers: 502")
