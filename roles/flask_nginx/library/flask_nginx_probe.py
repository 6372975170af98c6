#!/usr/bin/python
"""Read everything the role's plan asks of a host in one module run (one round trip)."""
import glob
import grp
import os
import pwd
import stat
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: flask_nginx_probe
short_description: Read installed packages, paths, small files, directories, systemd units and accounts at once
description:
  - Reads, never changes (safe in check mode). The role's plan asks once, at its start, for every
    fact of the host its decisions and its compare-then-act tasks need, instead of one module run
    per question; each question is named by the caller, and the answer comes back under that name.
  - Anything missing is an answer, not an error (an absent package, path, file, unit or account).
options:
  packages:
    description: Debian package names; each comes back with its installed version, or an empty string.
    type: list
    elements: str
    default: []
  paths:
    description: Name to absolute path. A symbolic link is reported as a link, never followed.
    type: dict
    default: {}
  files:
    description: Name to the path of a small text file to read (at most 64 KiB).
    type: dict
    default: {}
  dirs:
    description: Name to a directory whose subdirectories (not hidden ones) are listed, with their modification times.
    type: dict
    default: {}
  globs:
    description: Name to a list of shell patterns; the paths that match any of them (broken links too).
    type: dict
    default: {}
  units:
    description: systemd unit names; each comes back with its unit file state and its active state.
    type: list
    elements: str
    default: []
  fresh_since:
    description:
      - A path (the C(current) link). Each unit of O(units) comes back with C(fresh), whether its newest
        process started after the path last changed, that is whether it runs what the path points at.
      - Read from the kernel (process start times) and from systemd (the main process), never from a
        file the app could write.
    type: str
  users:
    description: Account names; each comes back with its home, shell and primary group, or as absent.
    type: list
    elements: str
    default: []
  groups:
    description: Group names; each comes back as present or absent.
    type: list
    elements: str
    default: []
author: flask-nginx
"""

RETURN = r"""
packages:
  description: Per package, the installed version (C("") when it is not installed).
  returned: always
  type: dict
paths:
  description: Per name, C(path), C(type) (file, directory, link, other, absent) and for a link its C(target) (as written) and C(realpath).
  returned: always
  type: dict
files:
  description: Per name, the file's text, or null when it cannot be read.
  returned: always
  type: dict
dirs:
  description: Per name, the subdirectories as a list of C(path) and C(mtime), as ansible.builtin.find returns them, and C(deployed), the mtime of a release's C(.deployed) marker (0 without one).
  returned: always
  type: dict
globs:
  description: Per name, the sorted paths that match.
  returned: always
  type: dict
units:
  description: Per unit, C(enabled) (systemd's UnitFileState, empty when there is no unit file), C(active) (ActiveState),
    and with O(fresh_since) C(fresh) (true, false, or null when the unit runs no process).
  returned: always
  type: dict
users:
  description: Per account, C(exists), and for an existing one C(home), C(shell) and C(group).
  returned: always
  type: dict
groups:
  description: Per group, C(exists).
  returned: always
  type: dict
"""

READ_LIMIT = 65536


def packages_of(module, names):
    out = {name: "" for name in names}
    if not names:
        return out
    # Unknown names make dpkg-query exit 1; it still reports the known ones.
    _rc, stdout, _err = module.run_command(
        ["dpkg-query", "--show", "--showformat=${Package}\t${db:Status-Status}\t${Version}\n", *names],
        environ_update={"LC_ALL": "C"})
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == "installed":
            out[parts[0].split(":")[0]] = parts[2]
    return out


def path_of(path):
    try:
        info = os.lstat(path)
    except OSError:
        return {"path": path, "type": "absent"}
    if os.path.islink(path):
        return {"path": path, "type": "link", "target": os.readlink(path), "realpath": os.path.realpath(path)}
    if os.path.isdir(path):
        return {"path": path, "type": "directory"}
    return {"path": path, "type": "file" if os.path.isfile(path) else "other", "size": info.st_size}


def read_text(path):
    """A regular file's text, never through a symbolic link, and never waiting (a FIFO, a device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read(READ_LIMIT).decode("utf-8", "replace")


def deployed(path):
    """When the release at PATH last went live (its .deployed marker's mtime), 0 if never."""
    try:
        return os.stat(os.path.join(path, ".deployed"), follow_symlinks=False).st_mtime
    except OSError:
        return 0


def subdirs(path):
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    # As ansible.builtin.find lists them: hidden ones left out.
    return sorted(({"path": entry.path, "mtime": entry.stat(follow_symlinks=False).st_mtime, "deployed": deployed(entry.path)}
                   for entry in entries if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")),
                  key=lambda item: item["path"])


def matches(patterns):
    found = set()
    for pattern in patterns:
        found.update(glob.glob(pattern))
    return sorted(found)


def started_at(pid):
    """When process PID started (seconds since the epoch), from the kernel; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # Fields after the command name (which may hold spaces and parentheses); starttime is the 22nd.
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    since_boot = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return time.time() - since_boot


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    if int(handle.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return out


def fresh(main_pid, since):
    """Whether the newest process of a unit (Gunicorn's newest worker, or a worker's only
    process) started after SINCE; None when the unit runs none."""
    if main_pid <= 0:
        return None
    starts = [t for t in map(started_at, [main_pid, *children_of(main_pid)]) if t is not None]
    return max(starts) > since if starts else None


def units_of(module, names, fresh_since=None):
    out = {name: {"enabled": "", "active": "inactive"} for name in names}
    if not names or not os.path.isdir("/run/systemd/system"):
        return out
    rc, stdout, _err = module.run_command(
        ["systemctl", "show", "--property=Id,UnitFileState,ActiveState,MainPID", "--", *names],
        environ_update={"LC_ALL": "C"})
    if rc != 0:
        return out
    try:
        since = os.lstat(fresh_since).st_mtime if fresh_since else None
    except OSError:
        since = None
    # One block per unit, separated by an empty line; each is taken by its Id, so a unit
    # systemctl did not answer for keeps the default (not running: its start task runs).
    for block in stdout.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id") in out:
            out[props["Id"]] = {"enabled": props.get("UnitFileState", ""),
                                "active": props.get("ActiveState", "inactive")}
            if since is not None:
                out[props["Id"]]["fresh"] = fresh(int(props.get("MainPID") or 0), since)
    return out


def user_of(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return {"exists": False}
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return {"exists": True, "home": entry.pw_dir, "shell": entry.pw_shell, "group": group}


def group_exists(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "paths": {"type": "dict", "default": {}},
            "files": {"type": "dict", "default": {}},
            "dirs": {"type": "dict", "default": {}},
            "globs": {"type": "dict", "default": {}},
            "units": {"type": "list", "elements": "str", "default": []},
            "fresh_since": {"type": "str"},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True)
    p = module.params
    module.exit_json(
        changed=False,
        packages=packages_of(module, list(dict.fromkeys(p["packages"]))),
        paths={name: path_of(path) for name, path in p["paths"].items()},
        files={name: read_text(path) for name, path in p["files"].items()},
        dirs={name: subdirs(path) for name, path in p["dirs"].items()},
        globs={name: matches([patterns] if isinstance(patterns, str) else patterns)
               for name, patterns in p["globs"].items()},
        units=units_of(module, list(dict.fromkeys(p["units"])), p["fresh_since"]),
        users={name: user_of(name) for name in p["users"]},
        groups={name: group_exists(name) for name in p["groups"]})


if __name__ == "__main__":
    main()
