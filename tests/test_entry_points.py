"""Every entry point is specified: the role (main), deploy, batch, rollback, status and finish each
have an argument spec (meta/argument_specs.yml), and each playbook checks its variables
before it acts: a bad value stops it, naming the variable, with nothing changed."""
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import (REPO, ROLE, SAMPLE_APP, ansible_playbook, load_yaml, plan_module, role_context, role_options,
                      role_values, spec_groups)

SPECS = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]
MAIN = SPECS["main"]["options"]
# Entry point -> the task file it names (include_role tasks_from) and the playbook that uses it.
ENTRY_POINTS = {"deploy": "playbooks/deploy.yml", "rollback": "playbooks/rollback.yml",
                "status": "playbooks/status.yml", "batch": "playbooks/deploy.yml", "finish": "playbooks/deploy.yml"}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_entry_point_is_specified_and_used(entry_point):
    spec = SPECS[entry_point]
    assert spec.get("short_description") and spec.get("options"), entry_point
    assert (ROLE / "tasks" / f"{entry_point}.yml").is_file()
    # Without ".yml": Ansible picks the entry point by the exact name given to tasks_from.
    assert re.search(rf"(?m)^ +tasks_from: {entry_point}$", (REPO / ENTRY_POINTS[entry_point]).read_text())


def names(options):
    """Every option's name, and each group's keys by their dotted name (flask_nginx_fleet.app_hosts)."""
    return [*options, *(f"{group}.{key}" for group, keys in spec_groups(options).items() for key in keys)]


def spec_of(options, name):
    """NAME's spec in OPTIONS: a group's own (its keys by name alone, each compared on its own), a key's."""
    group, dot, key = name.partition(".")
    if dot:
        return options[group]["options"][key]
    option = options[name]
    if "options" not in option:
        return option
    return {**{k: v for k, v in option.items() if k != "options"}, "keys": sorted(option["options"])}


@pytest.mark.parametrize("entry_point, name", sorted((e, n) for e in ENTRY_POINTS for n in names(SPECS[e]["options"])
                                                     if n in names(MAIN)))
def test_a_variable_shared_with_the_role_has_the_same_spec(entry_point, name):
    assert spec_of(SPECS[entry_point]["options"], name) == spec_of(MAIN, name)


def test_a_variable_only_deploy_reads_is_documented_under_deploy_alone():
    assert "flask_nginx_deploy_serial" in SPECS["deploy"]["options"]
    assert "flask_nginx_deploy_serial" not in MAIN


def test_the_release_to_roll_back_to_is_an_option_of_rollback_alone_that_the_plan_checks():
    """flask_nginx_rollback_to: rollback.yml's, not the role's; the plan still reads (and refuses) it."""
    assert SPECS["rollback"]["options"]["flask_nginx_rollback_to"]["type"] == "str"
    assert "flask_nginx_rollback_to" not in MAIN
    options = role_options()
    assert options["flask_nginx_rollback_to"] == SPECS["rollback"]["options"]["flask_nginx_rollback_to"]
    for release, refused in (("0123456789ab", []), ("../../etc", ['flask_nginx_rollback_to = "../../etc" is refused'])):
        values = role_values(flask_nginx_app_src=SAMPLE_APP, flask_nginx_rollback_to=release)
        found = plan_module().make_plan(values, options, role_context(values), "rules")[1]
        assert [m.split(":", 1)[0] for m in found] == refused, found


# playbook -> (extra vars, the text that names the refused variable)
BAD = {
    "rollback-retries-words": ("rollback.yml", {"flask_nginx_healthcheck": {"retries": "many"}},
                               "argument 'retries' is of type str found in 'flask_nginx_healthcheck'"),
    "rollback-release-path": ("rollback.yml", {"flask_nginx_rollback_to": "../../etc"},
                              'flask_nginx_rollback_to = "../../etc" is refused'),
    "status-app-name": ("status.yml", {"flask_nginx_app_name": "Bad Name"}, 'flask_nginx_app_name = "Bad Name" is refused'),
    "deploy-serial-words": ("deploy.yml", {"flask_nginx_deploy_serial": "half"},
                            'flask_nginx_deploy_serial = "half" is refused'),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each case's playbook on this machine (connection local, in both groups), side by side."""
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_become": False}},
                         "children": {"flask_app": {"hosts": {"localhost": None}},
                                      "flask_lb": {"hosts": {"localhost": None}}}}}

    def run(name):
        playbook, values, _ = BAD[name]
        result = ansible_playbook(f"../playbooks/{playbook}", values, tmp_path_factory.mktemp(name), inventory=inventory)
        return name, (result.returncode, result.stdout + result.stderr)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(pool.map(run, BAD))


@pytest.mark.parametrize("case", list(BAD))
def test_playbook_refuses_a_bad_value_before_it_acts(runs, case):
    rc, output = runs[case]
    assert rc != 0, output
    assert " ".join(BAD[case][2].split()) in " ".join(output.split()), output
    assert "changed=0" in output and "changed=1" not in output, output
