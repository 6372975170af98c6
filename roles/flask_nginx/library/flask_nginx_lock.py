#!/usr/bin/python
"""The deploy lock of one app on this host: taken by a run before it changes anything, given back at its end."""
import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: flask_nginx_lock
short_description: Take, give back or read the deploy lock of an app on a host
description:
  - The lock is a small JSON file naming the run that holds it - its id, the controller's user and host, the
    playbook, and since when it holds the lock here. It is created atomically (a complete file is linked into
    place, which fails when one exists), and every change is made under an exclusive C(flock) of its directory,
    so two runs on one host never both take it.
  - A run that holds the lock takes it again without waiting (the role enters a host several times in one
    run); that renews it (the file's modification time). A lock not renewed for O(timeout) seconds was left by
    a run that died, and is taken over with a warning; so is any lock with O(force).
  - A lock taken and given back in one run leaves the host as it was, so neither reports a change; taking over
    another run's lock does.
  - In check mode nothing is written, and a lock another run holds is still found.
options:
  path:
    description: The lock file. Its directory is created (mode 0755) when missing.
    type: path
    required: true
  state:
    description:
      - V(acquired) takes the lock for O(run), or answers C(acquired=false) and the holder when another run
        holds it (the caller fails; the role fails every host of the play).
      - V(released) gives it back if O(run) holds it, and leaves a lock another run holds alone.
      - V(read) tells who holds it, changing nothing.
    type: str
    choices: [acquired, released, read]
    default: acquired
  run:
    description: The run, as the role names it once per ansible-playbook run. C(id) is required to take or give back.
    type: dict
    default: {}
    suboptions:
      id:
        description: Unique per run.
        type: str
      user:
        description: The controller's user.
        type: str
      host:
        description: The controller's host name.
        type: str
      playbook:
        description: The playbook (file name, or the play's name).
        type: str
      started:
        description: When the run started (ISO 8601).
        type: str
  timeout:
    description: Seconds after its last renewal when a lock counts as left by a dead run.
    type: int
    default: 1800
  force:
    description: Take the lock over whoever holds it (a run that died and whose lock has not expired yet).
    type: bool
    default: false
author: flask-nginx
"""

EXAMPLES = r"""
- name: Take the deploy lock of the app
  flask_nginx_lock:
    path: /run/flask-nginx/shop/deploy.lock
    run: {id: 20250101T100000Z-1a2b3c4d, user: alice, host: ctl, playbook: deploy.yml}
  register: lock

- name: Stop when another run holds it
  ansible.builtin.fail:
    msg: "{{ lock.msg }}"
  when: not lock.acquired
"""

RETURN = r"""
acquired:
  description: This run holds the lock now (state V(acquired); in check mode, would hold it).
  returned: always
  type: bool
taken:
  description: This run took the lock just now (it was free, expired or broken), as opposed to holding it already.
  returned: always
  type: bool
released:
  description: This run gave the lock back (state V(released)).
  returned: always
  type: bool
holder:
  description: Who holds the lock (state V(read), or another run at V(acquired)); null when it is free.
  returned: always
  type: dict
broken:
  description: The holder whose lock was taken over (expired, or O(force)); null otherwise.
  returned: always
  type: dict
age:
  description: Seconds since the holder last renewed the lock (0 when it is free).
  returned: always
  type: int
stale:
  description: The lock is older than O(timeout) (state V(read)).
  returned: always
  type: bool
msg:
  description: What happened, naming the holder (user, host, playbook, since when).
  returned: always
  type: str
"""

GUARD_WAIT = 10.0
FIELDS = ("id", "user", "host", "playbook", "started")


def iso(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def ago(seconds):
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"


def describe(holder, age):
    """The holder as a person reads it: user@host running PLAYBOOK (run ID) since WHEN (AGE)."""
    if not holder:
        return "nobody"
    return (f"{holder.get('user') or '?'}@{holder.get('host') or '?'} running {holder.get('playbook') or '?'} "
            f"(run {holder.get('id') or '?'}) since {holder.get('since') or '?'} ({ago(age)})")


def read(path, now):
    """(the holder, seconds since it renewed the lock), or (None, 0) when there is no lock. A lock
    file that cannot be parsed is a holder without names, aged by its modification time."""
    try:
        renewed = os.stat(path).st_mtime
    except FileNotFoundError:
        return None, 0
    try:
        with open(path, encoding="utf-8") as handle:
            holder = json.load(handle)
    except (OSError, ValueError):
        holder = None
    if not isinstance(holder, dict):
        holder = {"id": "", "since": iso(renewed)}
    return holder, max(0, int(now - renewed))


def record(run, now):
    return {**{key: str(run.get(key) or "") for key in FIELDS}, "since": iso(now)}


def _write_temp(directory, content, now):
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".deploy-lock-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.utime(temp, (now, now))
    except BaseException:
        os.unlink(temp)
        raise
    return temp


def create(path, content, now):
    """Put a complete lock file at PATH only if there is none (link(2) fails on an existing name),
    renewed at NOW (its modification time)."""
    temp = _write_temp(os.path.dirname(path), content, now)
    try:
        os.link(temp, path)
    finally:
        os.unlink(temp)


def replace(path, content, now):
    os.replace(_write_temp(os.path.dirname(path), content, now), path)


@contextlib.contextmanager
def guarded(directory, wait=GUARD_WAIT):
    """An exclusive flock of DIRECTORY: one module run at a time decides about the lock."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def result(**values):
    return {"changed": False, "acquired": False, "taken": False, "released": False, "holder": None, "broken": None,
            "age": 0, "stale": False, "msg": "", "warnings": [], **values}


def acquire(path, run, timeout, force=False, check=False, now=None):
    """Take the lock at PATH for RUN (a dict with its id): free, held by RUN already (renewed), expired or
    FORCE (taken over, with a warning), else refused (acquired False, the holder). CHECK: write nothing."""
    now = time.time() if now is None else now
    if not run.get("id"):
        raise ValueError("run.id is required to take the lock")
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        if check:
            return result(acquired=True, taken=True, changed=True, msg=f"would create {directory} and take the lock")
        os.makedirs(directory, 0o755, exist_ok=True)
        made = True
    else:
        made = False
    with guarded(directory):
        holder, age = read(path, now)
        if holder is None:
            if not check:
                create(path, record(run, now), now)
            return result(acquired=True, taken=True, changed=made, msg="took the deploy lock")
        if holder.get("id") == run["id"]:
            if not check:
                os.utime(path, (now, now))
            return result(acquired=True, holder=holder, msg="holds the deploy lock already (renewed it)")
        if age > timeout or force:
            why = (f"it was not renewed for {age} s, more than flask_nginx_lock_timeout ({timeout} s): its run died"
                   if age > timeout else "flask_nginx_lock_break is true")
            warning = f"took over the deploy lock held by {describe(holder, age)}: {why}"
            if not check:
                replace(path, record(run, now), now)
            return result(acquired=True, taken=True, changed=True, broken=holder, age=age, msg=warning, warnings=[warning])
        return result(holder=holder, age=age, msg=f"held by {describe(holder, age)}")


def release(path, run, check=False, now=None):
    """Give back the lock at PATH if RUN holds it; a lock another run took over is left alone."""
    now = time.time() if now is None else now
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        return result(msg="no deploy lock")
    with guarded(directory):
        holder, age = read(path, now)
        if holder is None:
            return result(msg="no deploy lock")
        if holder.get("id") != run.get("id"):
            warning = f"left the deploy lock alone: it is held by {describe(holder, age)}, not by this run"
            return result(holder=holder, age=age, msg=warning, warnings=[warning])
        if not check:
            os.unlink(path)
        return result(released=True, msg="gave back the deploy lock")


def inspect(path, timeout, now=None):
    """Who holds the lock at PATH, changing nothing."""
    now = time.time() if now is None else now
    holder, age = read(path, now)
    if holder is None:
        return result(msg="free")
    stale = age > timeout
    return result(holder=holder, age=age, stale=stale,
                  msg=f"held by {describe(holder, age)}" + (
                      f"; older than flask_nginx_lock_timeout ({timeout} s): the next run takes it over" if stale else ""))


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["acquired", "released", "read"], "default": "acquired"},
            "run": {"type": "dict", "default": {}, "options": {key: {"type": "str"} for key in FIELDS}},
            "timeout": {"type": "int", "default": 1800},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    run = {key: value for key, value in (params["run"] or {}).items() if value is not None}
    try:
        if params["state"] == "read":
            answer = inspect(params["path"], params["timeout"])
        elif params["state"] == "released":
            answer = release(params["path"], run, check=module.check_mode)
        else:
            answer = acquire(params["path"], run, params["timeout"], force=params["force"], check=module.check_mode)
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"flask_nginx_lock: {params['state']} {params['path']}: {exc}")
    for warning in answer.pop("warnings"):
        module.warn(warning)
    module.exit_json(**answer)


if __name__ == "__main__":
    main()
