#!/usr/bin/python
"""Compare many paths with their wanted state in one module run (one round trip)."""
import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: flask_nginx_file_state
short_description: Which of many paths differ from their wanted type, content, mode, owner, group or link target
description:
  - Reads, never changes. The role asks once per group of files it manages, then runs its
    template, copy and file tasks only for the paths listed in RV(differ). That is one round
    trip instead of two per unchanged file. A path is listed unless every wanted property is
    proven equal, so a task is never skipped on a guess.
options:
  files:
    description: The wanted state of each path.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path. A symbolic link is compared as a link, never followed.
        type: str
        required: true
      type:
        description: What the path must be.
        type: str
        choices: [file, directory, link]
        default: file
      checksum:
        description: SHA-1 of a file's wanted content (what the template and copy modules compare).
        type: str
      any_content:
        description:
          - The file's content is not the role's (a log file). Only its type, mode, owner and group
            are compared, and O(files[].checksum) is not needed.
        type: bool
        default: false
      mode:
        description: Wanted mode, four octal digits (C(0644)). Not compared for a link.
        type: str
      owner:
        description: Wanted owner. Not compared for a link.
        type: str
        default: root
      group:
        description: Wanted group. Not compared for a link.
        type: str
        default: root
      target:
        description: Wanted target of a link.
        type: str
author: flask-nginx
"""

RETURN = r"""
differ:
  description: The paths whose state is not (proven to be) the wanted one, in the order given.
  returned: always
  type: list
  elements: str
state:
  description: Per path, C(type) (file, directory, link, other, absent), and for what exists C(mode),
    C(owner), C(group); C(checksum) (SHA-1) of a file; C(target) of a link.
  returned: always
  type: dict
"""


def name_of(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def sha1(path):
    digest = hashlib.sha1()  # noqa: S324  (the checksum Ansible's template and copy modules compare)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def state_of(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"type": "absent"}
    out = {"mode": "%04o" % stat.S_IMODE(info.st_mode), "owner": name_of(pwd.getpwuid, info.st_uid),
           "group": name_of(grp.getgrgid, info.st_gid)}
    if stat.S_ISLNK(info.st_mode):
        out.update(type="link", target=os.readlink(path))
    elif stat.S_ISDIR(info.st_mode):
        out["type"] = "directory"
    elif stat.S_ISREG(info.st_mode):
        out.update(type="file", checksum=sha1(path))
    else:
        out["type"] = "other"
    return out


def differs(found, wanted):
    if found["type"] != wanted["type"]:
        return True
    if wanted["type"] == "link":
        return found["target"] != wanted["target"]
    if wanted["mode"] is None or found["mode"] != wanted["mode"].zfill(4):
        return True
    if (found["owner"], found["group"]) != (wanted["owner"], wanted["group"]):
        return True
    if wanted["type"] != "file" or wanted["any_content"]:
        return False
    return not wanted["checksum"] or found["checksum"] != wanted["checksum"]


def main():
    module = AnsibleModule(
        argument_spec={"files": {"type": "list", "elements": "dict", "required": True, "options": {
            "path": {"type": "str", "required": True},
            "type": {"type": "str", "choices": ["file", "directory", "link"], "default": "file"},
            "checksum": {"type": "str"},
            "any_content": {"type": "bool", "default": False},
            "mode": {"type": "str"},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "target": {"type": "str"},
        }}},
        supports_check_mode=True)
    state = {}
    differ = []
    for wanted in module.params["files"]:
        found = state[wanted["path"]] = state_of(wanted["path"])
        if differs(found, wanted):
            differ.append(wanted["path"])
    module.exit_json(changed=False, differ=differ, state=state)


if __name__ == "__main__":
    main()
