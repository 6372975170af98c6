"""Shared helpers of the fast tests: no containers, only Ansible and nginx -t on this machine."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "molecule" / "shared"))
from playbook_times import pytest_configure, pytest_terminal_summary, timed_run  # noqa: E402,F401  (hooks: each run's time)
TESTS = REPO / "tests"
ROLE = REPO / "roles" / "flask_nginx"


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


SAMPLE_APP = str(REPO / "files" / "sample_app")


def ansible_playbook(playbook, extra_vars, tmp_dir, inventory=None, args=()):
    """Run tests/PLAYBOOK with EXTRA_VARS (passed as -e @file) on INVENTORY.

    INVENTORY is a dict in Ansible's YAML inventory form, written to TMP_DIR;
    without it the implicit localhost is used. The demo inventory is kept out:
    its group vars would send the play to a container. The interpreter is
    pinned to this Python: discovery may pick a broken shim.
    """
    vars_file = Path(tmp_dir) / f"{Path(playbook).stem}-vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    inventory_arg = "localhost,"
    if inventory is not None:
        inventory_file = Path(tmp_dir) / "inventory.yml"
        inventory_file.write_text(yaml.safe_dump(inventory))
        inventory_arg = str(inventory_file)
    bindir = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
        ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
    )
    cmd = [shutil.which("ansible-playbook", path=str(bindir)) or "ansible-playbook",
           "-i", inventory_arg, str(TESTS / playbook), "-e", f"@{vars_file}", *args]
    return timed_run(f"{playbook} ({len(extra_vars)} vars)", cmd, env=env, cwd=TESTS, capture_output=True,
                     text=True, timeout=600)


def nginx_binary():
    """FLASK_NGINX_NGINX, else the binary scripts/bootstrap.sh unpacks, else nginx on PATH."""
    if os.environ.get("FLASK_NGINX_NGINX"):
        return os.environ["FLASK_NGINX_NGINX"]
    cached = REPO / ".cache" / "nginx" / "usr" / "sbin" / "nginx"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def main_conf(includes, tmp_path):
    """A minimal main configuration that includes INCLUDES (files or globs); returns its path."""
    temp_paths = [f"{kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")]
    lines = ["types { text/html html; text/css css; }", f"access_log {tmp_path}/access.log;", *temp_paths,
             *(f"include {path};" for path in includes)]
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
                    "http {\n" + "".join(f"    {line}\n" for line in lines) + "}\n")
    return conf


def nginx_t(nginx, includes, tmp_path):
    """Run `nginx -t` on a minimal main configuration that includes INCLUDES (files or globs)."""
    return subprocess.run([nginx, "-t", "-p", tmp_path, "-e", tmp_path / "error.log", "-c", main_conf(includes, tmp_path)],
                          capture_output=True, text=True, timeout=30)


def nginx_version(nginx):
    """The version `nginx -v` reports, e.g. "1.22.1"."""
    result = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=30)
    return re.search(r"nginx/([0-9.]+)", result.stderr).group(1)


def plan(tmp_dir, inventory, facts=None, args=(), plan_entries=None):
    """Run the role's real checks and plan on INVENTORY (tests/render.yml); render the
    Nginx files of each load balancer. FACTS are set after the plan, PLAN_ENTRIES merged
    into it. Returns (result, {host: plan}) and leaves the files in TMP_DIR/rendered/HOST/."""
    out = Path(tmp_dir) / "rendered"
    out.mkdir(exist_ok=True)
    result = ansible_playbook("render.yml", {"render_dir": str(out), "render_facts": facts or {},
                                            "render_plan": plan_entries or {}},
                              tmp_dir, inventory=inventory, args=args)
    plans = {}
    for path in out.glob("*.json"):
        found = json.loads(path.read_text())
        (out / path.stem).mkdir(exist_ok=True)
        for name, content in found.pop("rendered_files", {}).items():
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            Path(name).write_text(content)
        path.write_text(json.dumps(found, indent=4, sort_keys=True))  # the plan alone, as a test reads it
        plans[path.stem] = found
    return result, plans


def role_module(name):
    """The role's own module NAME (roles/flask_nginx/library/NAME.py), imported, for its functions."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, ROLE / "library" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_local_play(tmp_path, playbook_text, *args):
    """PLAYBOOK_TEXT run by ansible-playbook on this machine (connection local), with the
    role's library on the module path and `out` = TMP_PATH; fails the test when it fails."""
    (tmp_path / "play.yml").write_text(playbook_text)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LIBRARY": str(ROLE / "library"),
           "ANSIBLE_NOCOLOR": "1"}
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"out={tmp_path}",
           "-e", f"ansible_python_interpreter={sys.executable}", *args, str(tmp_path / "play.yml")]
    result = timed_run("local play", cmd, capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads((tmp_path / "report.json").read_text())


def plan_module():
    """The role's plan plugin (roles/flask_nginx/action_plugins/flask_nginx_plan.py), imported, for its functions."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("flask_nginx_plan", ROLE / "action_plugins" / "flask_nginx_plan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resolve(values, known=None):
    """VALUES with the role's simple templates ("/opt/{{ flask_nginx_app_name }}") filled in from
    KNOWN and from each other, as Ansible would (enough for defaults/ and the constants of vars/)."""
    import jinja2
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    out = dict(values)
    for _ in range(5):
        context = {**(known or {}), **out}
        for name, value in out.items():
            if isinstance(value, str) and "{{" in value:
                try:
                    out[name] = env.from_string(value).render(context)
                except jinja2.UndefinedError:
                    pass
    return out


def role_values(**overrides):
    """The role's variables as a play sees them: defaults/main.yml with OVERRIDES, templated."""
    return _resolve({**load_yaml(ROLE / "defaults" / "main.yml"), **overrides})


def role_context(values, host="web", groups=None, hostvars=None, **extra):
    """What the plan reads besides the variables: the constants and tables of vars/ (templated
    with VALUES), the host's name, the inventory's groups and hostvars, and EXTRA (probe, ...)."""
    module = plan_module()
    tables = {**load_yaml(ROLE / "vars" / "main.yml"), **load_yaml(ROLE / "vars" / "Debian.yml")}
    constants = _resolve({name: tables[name] for name in module.CONSTANTS + module.TABLES}, {**tables, **values})
    return {**constants, "host": host, "groups": groups or {}, "hostvars": hostvars or {}, "ssh_user": "",
            "facts": {"distribution_release": "bookworm"}, "play_batch": [host], "play_hosts_all": [host], **extra}


def role_options():
    """The options the plan checks, as the plugin reads them (its load_options): the main entry
    point's, and those only another entry point has (flask_nginx_rollback_to)."""
    return plan_module().load_options(str(ROLE))


def spec_groups(options):
    """The grouped options of OPTIONS (a dict with keys of its own, e.g. flask_nginx_timeouts):
    name -> its keys' specs."""
    return {name: option["options"] for name, option in options.items()
            if option.get("type") == "dict" and option.get("options")}


def flat_options(options):
    """OPTIONS with each group's keys by their dotted name (flask_nginx_timeouts.proxy_read)
    in place of the group: one spec per value a user can set."""
    groups = spec_groups(options)
    out = {name: option for name, option in options.items() if name not in groups}
    out.update({f"{name}.{key}": spec for name, keys in groups.items() for key, spec in keys.items()})
    return out


def nested(name, value):
    """{NAME: VALUE} as a play sets it: a dotted NAME (flask_nginx_gunicorn.port) becomes its
    group with that key alone ({"flask_nginx_gunicorn": {"port": VALUE}})."""
    group, dot, key = name.partition(".")
    return {group: {key: value}} if dot else {name: value}


def dotted(mapping, name):
    """The value of NAME in MAPPING (the plan's vars, defaults/main.yml), a dotted NAME in its group."""
    group, dot, key = name.partition(".")
    return mapping[group][key] if dot else mapping[name]
