"""The skip of unchanged files (flask_nginx_file_state + flask_nginx_differs): a task
writes a file only when the state read in one round trip differs from what the task
would make of it. Run for real with ansible-playbook (local connection): the
template module's own output is recognised as unchanged, and every kind of drift
(content, mode, owner, type, link target, a missing path) is written again."""
import importlib.util
import json
import os
import subprocess
import sys

from conftest import REPO

ROLE = REPO / "roles" / "flask_nginx"
spec = importlib.util.spec_from_file_location("flask_nginx_filters", ROLE / "filter_plugins" / "flask_nginx.py")
filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(filters)
differs = filters.flask_nginx_differs

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    owner: "{{ lookup('ansible.builtin.pipe', 'id -un') }}"
    group: "{{ lookup('ansible.builtin.pipe', 'id -gn') }}"
    greeting: hello
  tasks:
    - name: Read
      flask_nginx_file_state:
        paths: ["{{ out }}/page.txt", "{{ out }}/dir", "{{ out }}/link"]
      register: state
    - name: Page
      ansible.builtin.template:
        src: "{{ out }}/page.txt.j2"
        dest: "{{ out }}/page.txt"
        mode: "0644"
      when: >-
        state.state | flask_nginx_differs(out ~ '/page.txt', mode='0644', owner=owner, group=group,
          content=lookup('ansible.builtin.template', out ~ '/page.txt.j2', convert_data=false))
      register: page
    - name: Dir
      ansible.builtin.file:
        path: "{{ out }}/dir"
        state: directory
        mode: "0750"
      when: state.state | flask_nginx_differs(out ~ '/dir', kind='directory', mode='0750', owner=owner, group=group)
      register: dir
    - name: Link
      ansible.builtin.file:
        src: "{{ out }}/page.txt"
        dest: "{{ out }}/link"
        state: link
      when: state.state | flask_nginx_differs(out ~ '/link', target=out ~ '/page.txt')
      register: link
    - name: Report
      ansible.builtin.copy:
        content: "{{ {'state': state.state, 'page': page is changed, 'dir': dir is changed, 'link': link is changed,
                      'ran': [page, dir, link] | rejectattr('skipped', 'defined') | list | length} | to_json }}"
        dest: "{{ out }}/report.json"
        mode: "0644"
"""


def converge(tmp_path):
    (tmp_path / "page.txt.j2").write_text("{{ ansible_managed | comment }}\n{{ greeting }} from {{ out }}\n")
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LIBRARY": str(ROLE / "library"),
           "ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"out={tmp_path}",
                             "-e", f"ansible_python_interpreter={sys.executable}",
                             str(tmp_path / "play.yml")], capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads((tmp_path / "report.json").read_text())


def test_first_run_writes_all_the_second_run_writes_nothing(tmp_path):
    first = converge(tmp_path)
    assert first["state"][f"{tmp_path}/page.txt"] == {"type": "absent"}
    assert (first["page"], first["dir"], first["link"]) == (True, True, True)
    second = converge(tmp_path)
    page = second["state"][f"{tmp_path}/page.txt"]
    assert page["type"] == "file" and page["mode"] == "0644" and len(page["checksum"]) == 40
    assert second["state"][f"{tmp_path}/link"] == {**second["state"][f"{tmp_path}/link"], "type": "link",
                                                   "target": f"{tmp_path}/page.txt"}
    assert second["ran"] == 0, second


def test_every_kind_of_drift_is_written_again(tmp_path):
    converge(tmp_path)
    page = tmp_path / "page.txt"
    page.write_text(page.read_text() + "# drift\n")
    (tmp_path / "dir").chmod(0o755)
    (tmp_path / "link").unlink()
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    again = converge(tmp_path)
    assert (again["page"], again["dir"], again["link"]) == (True, True, True), again
    assert "# drift" not in page.read_text()
    assert (tmp_path / "dir").stat().st_mode & 0o777 == 0o750
    assert os.readlink(tmp_path / "link") == str(page)
    page.chmod(0o600)
    assert converge(tmp_path)["page"] is True and page.stat().st_mode & 0o777 == 0o644


def test_the_filter_writes_whatever_it_cannot_prove_unchanged():
    sha = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"  # sha1("hello")
    state = {"/f": {"type": "file", "mode": "0644", "owner": "root", "group": "root", "checksum": sha},
             "/d": {"type": "directory", "mode": "0755", "owner": "root", "group": "adm"},
             "/l": {"type": "link", "target": "/f", "mode": "0777", "owner": "root", "group": "root"}}
    assert not differs(state, "/f", content="hello", mode="0644")
    assert differs(state, "/f", content="hello!", mode="0644")
    assert differs(state, "/f", content="hello", mode="0600")
    assert differs(state, "/f", content="hello", mode="0644", owner="www-data")
    assert differs(state, "/f", mode="0644")  # content unknown: write
    assert differs(state, "/missing", content="hello")
    assert differs(None, "/f", content="hello")
    assert not differs(state, "/d", kind="directory", mode="0755", group="adm")
    assert differs(state, "/d", kind="directory", mode="0755")
    assert differs(state, "/f", kind="directory", mode="0644")
    assert not differs(state, "/l", target="/f")
    assert differs(state, "/l", target="/d")
    assert differs(state, "/f", target="/f")
