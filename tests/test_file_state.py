"""The skip of unchanged files (module flask_nginx_file_state): a task writes a file
only when the state read in one round trip differs from what the task would make of
it. Run for real with ansible-playbook (local connection): the template module's own
output is recognised as unchanged, and every kind of drift (content, mode, type,
link target, a missing path) is written again."""
import os

from conftest import role_module, run_local_play

module = role_module("flask_nginx_file_state")

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    owner: "{{ lookup('ansible.builtin.pipe', 'id -un') }}"
    group: "{{ lookup('ansible.builtin.pipe', 'id -gn') }}"
    greeting: hello
  tasks:
    - name: Compare
      flask_nginx_file_state:
        files:
          - path: "{{ out }}/page.txt"
            mode: "0644"
            owner: "{{ owner }}"
            group: "{{ group }}"
            checksum: "{{ lookup('ansible.builtin.template', out ~ '/page.txt.j2', convert_data=false) | hash('sha1') }}"
          - {path: "{{ out }}/dir", type: directory, mode: "0750", owner: "{{ owner }}", group: "{{ group }}"}
          - {path: "{{ out }}/link", type: link, target: "{{ out }}/page.txt"}
      register: state
    - name: Page
      ansible.builtin.template:
        src: "{{ out }}/page.txt.j2"
        dest: "{{ out }}/page.txt"
        mode: "0644"
      when: (out ~ '/page.txt') in state.differ
      register: page
    - name: Dir
      ansible.builtin.file:
        path: "{{ out }}/dir"
        state: directory
        mode: "0750"
      when: (out ~ '/dir') in state.differ
      register: dir
    - name: Link
      ansible.builtin.file:
        src: "{{ out }}/page.txt"
        dest: "{{ out }}/link"
        state: link
      when: (out ~ '/link') in state.differ
      register: link
    - name: Report
      ansible.builtin.copy:
        content: "{{ {'state': state.state, 'differ': state.differ, 'page': page is changed, 'dir': dir is changed,
                      'link': link is changed, 'ran': [page, dir, link] | rejectattr('skipped', 'defined') | list | length}
                     | to_json }}"
        dest: "{{ out }}/report.json"
        mode: "0644"
"""


def converge(tmp_path):
    (tmp_path / "page.txt.j2").write_text("{{ ansible_managed | comment }}\n{{ greeting }} from {{ out }}\n")
    return run_local_play(tmp_path, PLAYBOOK)


def test_first_run_writes_all_the_second_run_writes_nothing(tmp_path):
    first = converge(tmp_path)
    assert first["state"][f"{tmp_path}/page.txt"] == {"type": "absent"}
    assert (first["page"], first["dir"], first["link"]) == (True, True, True)
    second = converge(tmp_path)
    page = second["state"][f"{tmp_path}/page.txt"]
    assert page["type"] == "file" and page["mode"] == "0644" and len(page["checksum"]) == 40
    assert second["state"][f"{tmp_path}/link"] == {**second["state"][f"{tmp_path}/link"], "type": "link",
                                                   "target": f"{tmp_path}/page.txt"}
    assert second["ran"] == 0 and second["differ"] == [], second


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


def test_a_path_is_written_unless_every_wanted_property_is_proven_equal():
    sha = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"  # sha1("hello")
    file = {"type": "file", "mode": "0644", "owner": "root", "group": "root", "checksum": sha}
    directory = {"type": "directory", "mode": "0755", "owner": "root", "group": "adm"}
    link = {"type": "link", "target": "/f", "mode": "0777", "owner": "root", "group": "root"}

    def wanted(**kw):
        return {"type": "file", "checksum": None, "any_content": False, "mode": None, "owner": "root", "group": "root",
                "target": None, **kw}

    differs = module.differs
    assert not differs(file, wanted(checksum=sha, mode="0644"))
    assert not differs(file, wanted(checksum=sha, mode="644"))
    assert differs(file, wanted(checksum="0" * 40, mode="0644"))
    assert differs(file, wanted(checksum=sha, mode="0600"))
    assert differs(file, wanted(checksum=sha, mode="0644", owner="www-data"))
    assert differs(file, wanted(mode="0644"))  # content unknown: write it
    assert differs(file, wanted(checksum=sha))  # mode unknown: write it
    assert differs({"type": "absent"}, wanted(checksum=sha, mode="0644"))
    assert not differs(directory, wanted(type="directory", mode="0755", group="adm"))
    assert differs(directory, wanted(type="directory", mode="0755"))
    assert differs(file, wanted(type="directory", mode="0644"))
    assert not differs(link, wanted(type="link", target="/f"))
    assert differs(link, wanted(type="link", target="/d"))
    assert differs(file, wanted(type="link", target="/f"))


def test_a_file_whose_content_is_not_the_roles_is_compared_by_type_mode_and_owner_only():
    """A log file: its content is Nginx's; a wrong mode or owner is still found."""
    log = {"type": "file", "mode": "0640", "owner": "www-data", "group": "adm", "checksum": "0" * 40}

    def wanted(**kw):
        return {"type": "file", "checksum": None, "any_content": True, "mode": "0640", "owner": "www-data",
                "group": "adm", "target": None, **kw}

    differs = module.differs
    assert not differs(log, wanted())
    assert differs(log, wanted(mode="0644"))
    assert differs(log, wanted(group="root"))
    assert differs({"type": "absent"}, wanted())
    assert differs({**log, "type": "link", "target": "/etc/shadow"}, wanted())
