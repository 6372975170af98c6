#!/usr/bin/python
"""The deploy history of one app on this host: one JSON line per deploy, rollback or failed run."""
import json
import os
import time
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: flask_nginx_history
short_description: Append an event to an app's deploy history on a host, or read its last events
description:
  - The history is a file of JSON lines, root's, mode 0640. Each line is one event - when (the host's clock,
    UTC), its kind (C(deploy), C(rollback)), its result (C(ok), C(failed)), the release and the one before it,
    what failed, and the run - its id, the controller's user and host, the playbook.
  - Only those fields are written, whatever the caller passes, and a message is cut to 300 characters. The
    role passes no setting of the app, and failure messages with the values of C(flask_nginx_app_env) redacted.
  - In check mode nothing is written.
options:
  path:
    description: The history file. Its directory must exist.
    type: path
    required: true
  event:
    description: The event to append; none to only read.
    type: dict
    suboptions:
      kind:
        description: What the run did.
        type: str
        required: true
      result:
        description: How it ended.
        type: str
        choices: [ok, failed]
        required: true
      release:
        description: The release it deployed or rolled back to (empty when not known yet).
        type: str
        default: ""
      previous:
        description: The release that was live before.
        type: str
        default: ""
      message:
        description: What failed (a failed event).
        type: str
        default: ""
  run:
    description: The run (id, user, host, playbook), as the role names it once per ansible-playbook run.
    type: dict
    default: {}
  last:
    description: How many of the newest events to return (after the one appended).
    type: int
    default: 0
author: flask-nginx
"""

EXAMPLES = r"""
- name: Record a deploy
  flask_nginx_history:
    path: /var/lib/flask-nginx/shop/history.jsonl
    event: {kind: deploy, result: ok, release: 4f2a9c1b3d5e, previous: 1a2b3c4d5e6f}
    run: {id: 20250101T100000Z-1a2b3c4d, user: alice, host: ctl, playbook: deploy.yml}

- name: Read the last 10 events
  flask_nginx_history:
    path: /var/lib/flask-nginx/shop/history.jsonl
    last: 10
  register: history
"""

RETURN = r"""
entry:
  description: The event as written (or as it would be, in check mode); null when none was given.
  returned: always
  type: dict
entries:
  description: The newest O(last) events, oldest first.
  returned: always
  type: list
  elements: dict
lines:
  description: The same events as one line of text each, newest first.
  returned: always
  type: list
  elements: str
"""

MESSAGE_LIMIT = 300
RUN_FIELDS = ("id", "user", "host", "playbook")
# The tail read to find the last events: enough for hundreds of lines.
TAIL_BYTES = 65536


def entry(event, run, now):
    """The line's fields, in a fixed order: only these are ever written."""
    message = " ".join(str(event.get("message") or "").split())
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT - 3] + "..."
    out = {"time": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
           "kind": str(event["kind"]), "result": str(event["result"]),
           "release": str(event.get("release") or ""), "previous": str(event.get("previous") or "")}
    if message:
        out["message"] = message
    out["run"] = {key: str(run.get(key) or "") for key in RUN_FIELDS}
    return out


def line(item):
    return json.dumps(item, separators=(",", ":")) + "\n"


def append(path, item, check=False):
    """Append ITEM as one line (one write, O_APPEND); the file is made root's, 0640."""
    if check:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.fchmod(fd, 0o640)
        if os.geteuid() == 0:
            os.fchown(fd, 0, 0)
        os.write(fd, line(item).encode("utf-8"))
    finally:
        os.close(fd)


def last(path, count):
    """The newest COUNT events of the file at PATH, oldest first; lines that do not parse are skipped."""
    if count <= 0:
        return []
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []
    if size > TAIL_BYTES:
        tail = tail[1:]  # the first line read may be cut
    out = []
    for text in tail:
        try:
            item = json.loads(text)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out[-count:]


def describe(item):
    """One event as a person reads it, e.g.
    2025-01-01T10:00:00+00:00 deploy ok 4f2a9c1b3d5e (was 1a2b3c4d5e6f) by alice@ctl with deploy.yml"""
    run = item.get("run") or {}
    text = f"{item.get('time', '?')} {item.get('kind', '?')} {item.get('result', '?')} {item.get('release') or '-'}"
    if item.get("previous") and item.get("previous") != item.get("release"):
        text += f" (was {item['previous']})"
    text += f" by {run.get('user') or '?'}@{run.get('host') or '?'} with {run.get('playbook') or '?'}"
    if item.get("message"):
        text += f": {item['message']}"
    return text


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "event": {"type": "dict", "options": {
                "kind": {"type": "str", "required": True},
                "result": {"type": "str", "choices": ["ok", "failed"], "required": True},
                "release": {"type": "str", "default": ""},
                "previous": {"type": "str", "default": ""},
                "message": {"type": "str", "default": ""},
            }},
            "run": {"type": "dict", "default": {}},
            "last": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    params = module.params
    item = None
    if params["event"]:
        item = entry(params["event"], params["run"] or {}, time.time())
        try:
            append(params["path"], item, check=module.check_mode)
        except OSError as exc:
            module.fail_json(msg=f"flask_nginx_history: cannot append to {params['path']}: {exc}")
    entries = last(params["path"], params["last"])
    module.exit_json(changed=item is not None, entry=item, entries=entries,
                     lines=[describe(e) for e in reversed(entries)])


if __name__ == "__main__":
    main()
