#!/usr/bin/python
"""The static files of every kept release, as one directory that Nginx serves."""
import hashlib
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: flask_nginx_assets
short_description: One directory with the static files of every kept release, the live release's first
description:
  - A page rendered by one release asks for the static files of that release. During a rolling
    deploy the load balancers get requests from pages of the old and the new release. After a
    switch or a rollback, pages still open in browsers ask for the files of the release they came
    from. So Nginx serves the static URL from one directory that holds the files of every complete
    release in O(releases_dir).
  - When two releases have a file of the same name, the live release (where O(current) points) wins, then the
    other releases, newest build first. A precompressed C(NAME.gz) comes from the release whose
    C(NAME) is served, so that it never holds other content. Symbolic links are left out, as Nginx
    refuses them there.
  - The files are hard links into the releases, so nothing is copied. Each set of releases gets its
    own directory, built aside and then switched in with one atomic rename of the O(dest) link.
    The set served before stays until the next change, and older sets are removed. A file that only
    pruned releases had is gone with them.
  - Changes nothing when O(dest) already points at the directory of the same set of releases, and
    nothing in check mode.
options:
  releases_dir:
    description: The app's releases, one directory each.
    type: path
    required: true
  static_dir:
    description: The static directory inside each release's C(app/) directory.
    type: str
    required: true
  marker:
    description: A release counts once it has this file (its build is complete).
    type: str
    required: true
  current:
    description: The link to the live release, whose files are served first (none when it is absent).
    type: path
    required: true
  dest:
    description: The link Nginx serves the static URL from. Its sets live in C(DEST.d/).
    type: path
    required: true
author: flask-nginx
"""

RETURN = r"""
releases:
  description: The releases whose files are served, in the order they win.
  returned: always
  type: list
  elements: str
target:
  description: The directory O(dest) points at.
  returned: always
  type: str
files:
  description: How many files are served (counted only when the directory was built).
  returned: when changed and not in check mode
  type: int
"""


def releases(releases_dir, marker, current):
    """The complete releases, as (name, when its build completed): CURRENT first,
    then the newest builds."""
    found = []
    for name in os.listdir(releases_dir):
        try:
            found.append((name, os.stat(os.path.join(releases_dir, name, marker)).st_mtime))
        except OSError:
            continue
    found.sort(key=lambda pair: (pair[0] != current, -pair[1], pair[0]))
    return found


def owners(releases_dir, static_dir, names):
    """{relative path: the release that serves it}, for every regular file."""
    winner, gz = {}, {}
    for name in names:
        top = os.path.join(releases_dir, name, "app", static_dir)
        for parent, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(parent, d))]
            for file in files:
                path = os.path.join(parent, file)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                rel = os.path.relpath(path, top)
                table = gz if rel.endswith(".gz") else winner
                table.setdefault(rel, name)
    for rel, name in gz.items():
        # NAME.gz with the content of the NAME that is served, or none at all.
        base = winner.get(rel[:-3])
        if base is None:
            winner[rel] = name
        elif os.path.isfile(os.path.join(releases_dir, base, "app", static_dir, rel)):
            winner[rel] = base
    return winner


def build(releases_dir, static_dir, names, target):
    building = target + ".building"
    shutil.rmtree(building, ignore_errors=True)
    os.makedirs(building, mode=0o755)
    table = owners(releases_dir, static_dir, names)
    for rel, name in sorted(table.items()):
        dest = os.path.join(building, rel)
        os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
        os.link(os.path.join(releases_dir, name, "app", static_dir, rel), dest)
    os.chmod(building, 0o755)
    os.rename(building, target)
    return len(table)


def main():
    module = AnsibleModule(
        argument_spec={
            "releases_dir": {"type": "path", "required": True},
            "static_dir": {"type": "str", "required": True},
            "marker": {"type": "str", "required": True},
            "current": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
        },
        supports_check_mode=True)
    p = module.params
    static_dir = p["static_dir"].strip("/")
    if not static_dir or ".." in static_dir.split("/"):
        module.fail_json(msg=f"static_dir = {static_dir!r} is not a directory inside the release")
    current = os.path.basename(os.readlink(p["current"])) if os.path.islink(p["current"]) else ""
    found = releases(p["releases_dir"], p["marker"], current) if os.path.isdir(p["releases_dir"]) else []
    names = [name for name, _ in found]
    # The set: which releases, in which order, each as built (a release built again is another set).
    digest = hashlib.sha256(repr([static_dir, found]).encode()).hexdigest()[:16]
    sets = p["dest"] + ".d"
    target = os.path.join(sets, digest)
    result = {"releases": names, "target": target}
    if os.path.islink(p["dest"]) and os.readlink(p["dest"]) == target and os.path.isdir(target):
        module.exit_json(changed=False, **result)
    if module.check_mode:
        module.exit_json(changed=True, **result)
    if os.path.lexists(p["dest"]) and not os.path.islink(p["dest"]):
        module.fail_json(msg=f"{p['dest']} is not a link; it is left alone", **result)
    os.makedirs(sets, mode=0o755, exist_ok=True)
    # The set served until now stays until the next change: a request that Nginx
    # mapped to it a moment ago still finds its file.
    previous = os.path.basename(os.readlink(p["dest"])) if os.path.islink(p["dest"]) else ""
    if not os.path.isdir(target):
        result["files"] = build(p["releases_dir"], static_dir, names, target)
    link = p["dest"] + ".new"
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(target, link)
    os.replace(link, p["dest"])
    for other in os.listdir(sets):
        if other not in (digest, previous):
            shutil.rmtree(os.path.join(sets, other), ignore_errors=True)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
