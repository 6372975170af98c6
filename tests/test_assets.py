"""The static files of every kept release (module flask_nginx_assets, tasks/assets.yml),
run for real by ansible-playbook on made-up releases: the live release's file wins,
then the newest build's; a precompressed .gz never comes from another release than
its file; symbolic links and unfinished builds are left out; the same set is no
change, in check mode nothing changes, and a pruned release's files are gone."""
import os
import time

import pytest

from conftest import role_module, run_local_play

module = role_module("flask_nginx_assets")

MARKER = ".code-complete"

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Assets
      flask_nginx_assets:
        releases_dir: "{{ out }}/releases"
        static_dir: static
        marker: .code-complete
        current: "{{ out }}/current"
        dest: "{{ out }}/assets"
      register: assets
    - name: Report
      ansible.builtin.copy:
        content: "{{ assets | to_json }}"
        dest: "{{ out }}/report.json"
        mode: "0644"
"""


def release(root, name, files, built, complete=True):
    """Release NAME under ROOT/releases with FILES {relative path: content} in app/static."""
    top = root / "releases" / name
    for rel, content in files.items():
        path = top / "app" / "static" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (top / "app" / "static").mkdir(parents=True, exist_ok=True)
    if complete:
        (top / MARKER).write_text(name + "\n")
        os.utime(top / MARKER, (built, built))
    return top


def go_live(root, name):
    link = root / "current"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(root / "releases" / name)


def built(root):
    """What the module builds for ROOT's releases (its functions, without Ansible), as
    (release names in the order they win, the directory)."""
    found = module.releases(str(root / "releases"), MARKER, os.path.basename(os.readlink(root / "current")))
    names = [name for name, _ in found]
    module.build(str(root / "releases"), "static", names, str(root / "built"))
    return names, root / "built"


def served(root, top=None):
    """{relative path: content} of what the assets link (or TOP) serves."""
    top = top or root / "assets"
    out = {}
    for parent, _, files in os.walk(top, followlinks=True):
        for file in files:
            path = os.path.join(parent, file)
            out[os.path.relpath(path, top)] = open(path, encoding="utf-8").read()
    return out


@pytest.fixture
def fleet(tmp_path):
    now = time.time()
    release(tmp_path, "old", {"style.css": "old style", "old-only.js": "old js", "img/logo.svg": "old logo"},
            now - 300)
    release(tmp_path, "new", {"style.css": "new style", "style.css.gz": "gzip of new style",
                              "new-only.js": "new js", "app.3f9a2c1d.css": "hashed"}, now - 100)
    release(tmp_path, "older", {"style.css": "older style", "older-only.js": "older js"}, now - 600)
    release(tmp_path, "unfinished", {"half.js": "half"}, now, complete=False)
    go_live(tmp_path, "old")
    return tmp_path


def test_during_a_rollout_the_live_files_win_and_every_kept_releases_files_answer(fleet):
    names, top = built(fleet)
    assert names == ["old", "new", "older"]
    files = served(fleet, top)
    assert files["style.css"] == "old style"  # the live release's
    assert files["old-only.js"] == "old js" and files["new-only.js"] == "new js"
    assert files["older-only.js"] == "older js" and files["img/logo.svg"] == "old logo"
    # new's .gz holds new's style.css, not the old one that is served.
    assert "style.css.gz" not in files
    assert "half.js" not in files  # a build that never completed
    # Hard links into the releases: nothing is copied.
    assert os.path.samefile(top / "new-only.js", fleet / "releases/new/app/static/new-only.js")


def test_after_the_switch_the_new_files_win_the_same_set_is_no_change_and_a_pruned_release_is_gone(fleet):
    run_local_play(fleet, PLAY)
    first_target = os.readlink(fleet / "assets")
    go_live(fleet, "new")
    report = run_local_play(fleet, PLAY)
    assert report["changed"] and report["releases"] == ["new", "old", "older"]
    files = served(fleet)
    assert files["style.css"] == "new style" and files["style.css.gz"] == "gzip of new style"
    assert files["old-only.js"] == "old js"
    assert not run_local_play(fleet, PLAY)["changed"]
    # Pruned: its files answer no more; the set served before stays, older sets go.
    second_target = os.readlink(fleet / "assets")
    for path in sorted((fleet / "releases" / "older").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (fleet / "releases" / "older").rmdir()
    assert run_local_play(fleet, PLAY)["changed"]
    assert "older-only.js" not in served(fleet)
    assert os.path.isdir(second_target) and not os.path.exists(first_target)


def test_check_mode_changes_nothing(fleet):
    run_local_play(fleet, PLAY)
    before = os.readlink(fleet / "assets")
    go_live(fleet, "new")
    report = run_local_play(fleet, PLAY, "--check")
    assert report["changed"]
    assert os.readlink(fleet / "assets") == before and served(fleet)["style.css"] == "old style"


def test_symbolic_links_are_left_out(fleet):
    static = fleet / "releases" / "old" / "app" / "static"
    (static / "secret").symlink_to("/etc/passwd")
    (static / "linked-dir").symlink_to(fleet / "releases" / "new" / "app" / "static")
    names, top = built(fleet)
    files = served(fleet, top)
    assert names[0] == "old" and files["style.css"] == "old style"
    assert "secret" not in files and not any(rel.startswith("linked-dir") for rel in files)
