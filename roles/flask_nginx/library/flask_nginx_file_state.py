#!/usr/bin/python
"""Read the state of many paths in one module run (one round trip)."""
import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: flask_nginx_file_state
short_description: Type, SHA-1, mode, owner, group and link target of many paths at once
description:
  - Reads, never changes. The role asks once per group of files it manages, then runs its
    template, copy and file tasks only for the paths whose state differs from the wanted one
    (filter C(flask_nginx_differs)): one round trip instead of two per unchanged file.
options:
  paths:
    description: Absolute paths. A symbolic link is reported as a link, not followed.
    type: list
    elements: str
    required: true
author: flask-nginx
"""

RETURN = r"""
state:
  description: Per path, C(type) (file, directory, link, other, absent), and for what exists C(mode)
    (four octal digits), C(owner), C(group); C(checksum) (SHA-1) of a file; C(target) of a link.
  returned: always
  type: dict
"""


def name_of(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def sha1(path):
    digest = hashlib.sha1()  # noqa: S324  (the checksum Ansible's template and copy compare)
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


def main():
    module = AnsibleModule(argument_spec={"paths": {"type": "list", "elements": "str", "required": True}},
                           supports_check_mode=True)
    module.exit_json(changed=False, state={path: state_of(path) for path in module.params["paths"]})


if __name__ == "__main__":
    main()
