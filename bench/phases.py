"""A converge by phase: the tasks ansible.posix.profile_tasks timed, each put in a phase by the
task file of the role it comes from (an explicit table, with the tasks of a file that belong to
another phase named one by one), summed up beside the converge's total.

The phases: installing packages, virtualenvs and their dependencies, files (code, settings,
units, Nginx files, directories and accounts), services (starting, reloading and running units
and commands), and checks (the variables, the plan's reads of the host, the start-up check,
nginx -t, the health check). What no table names (Ansible's fact gathering, a playbook's own
tasks) is "other"."""
import re
from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parent.parent / "roles" / "flask_nginx"
PACKAGES, VIRTUALENVS, FILES, SERVICES, CHECKS, OTHER = (
    "packages", "virtualenvs and dependencies", "files", "services", "checks", "other")
PHASES = (PACKAGES, VIRTUALENVS, FILES, SERVICES, CHECKS, OTHER)
# Every task file of the role and its phase; None: playbooks/site.yml never runs it.
FILE_PHASES = {
    "tasks/main.yml": OTHER,  # its include_tasks entries (the includes' own time)
    "tasks/app.yml": OTHER,
    "tasks/validate.yml": CHECKS,
    "tasks/plan.yml": CHECKS,
    "tasks/install.yml": PACKAGES,
    "tasks/app_host.yml": FILES,
    "tasks/app_git.yml": FILES,
    "tasks/app_build.yml": FILES,
    "tasks/app_build_release.yml": FILES,
    "tasks/python.yml": VIRTUALENVS,
    "tasks/app_venv.yml": VIRTUALENVS,
    "tasks/fleet_wheels.yml": VIRTUALENVS,  # the build host's wheels, brought to the others
    "tasks/app_startcheck.yml": CHECKS,
    "tasks/app_pre_switch.yml": SERVICES,
    "tasks/app_commands.yml": SERVICES,
    "tasks/post_switch.yml": SERVICES,
    "tasks/lock.yml": CHECKS,
    "tasks/lock_release.yml": FILES,
    "tasks/history.yml": FILES,
    "tasks/failed.yml": FILES,
    "tasks/app_switch.yml": FILES,
    "tasks/assets.yml": FILES,
    "tasks/settings_back.yml": None,
    "tasks/lock_release_rollout.yml": FILES,
    "tasks/gunicorn.yml": FILES,
    "tasks/workers.yml": FILES,
    "tasks/tls.yml": FILES,
    "tasks/logs.yml": FILES,
    "tasks/nginx.yml": FILES,
    "tasks/access.yml": FILES,
    "tasks/nginx_apply.yml": FILES,
    "tasks/acme.yml": FILES,
    "tasks/acme_preflight.yml": CHECKS,
    "tasks/acme_copy.yml": FILES,
    "tasks/metrics.yml": FILES,
    "tasks/metrics_off.yml": FILES,
    "tasks/firewall.yml": FILES,
    "tasks/health.yml": CHECKS,
    "handlers/main.yml": SERVICES,
    "tasks/deploy.yml": None,
    "tasks/rollback.yml": None,
    "tasks/rotation.yml": None,
    "tasks/rotation_lb.yml": None,
    "tasks/batch.yml": None,
    "tasks/canary.yml": None,
    "tasks/revert.yml": None,
    "tasks/status.yml": None,
    "tasks/finish.yml": None,
}
# The tasks whose phase is not their file's.
TASK_PHASES = {
    # app_build_release.yml (python.yml and app_venv.yml are virtualenvs as a whole)
    "Refuse code that changed on the controller since the plan took its checksum": CHECKS,
    "Fail with the reason the release could not be built": CHECKS,
    # app_git.yml
    "Identify the release of a git app by its commit (a load balancer asks an app host)": CHECKS,
    "Check that a load balancer knows the release of a git app": CHECKS,
    # app_startcheck.yml
    "Write the new settings and secrets beside the live ones, until the switch": FILES,
    "Remove the new settings when the release does not load with them": FILES,
    # app_switch.yml
    "Reload Gunicorn gracefully when it serves another release than current": SERVICES,
    # gunicorn.yml
    "Ensure the Gunicorn socket is enabled and listening": SERVICES,
    "Ensure Gunicorn is enabled and running": SERVICES,
    "Know whether Gunicorn was started just now": SERVICES,
    "Restart Gunicorn to apply a new unit, environment or Gunicorn version": SERVICES,
    "Reload Gunicorn gracefully to serve a new release or settings": SERVICES,
    # workers.yml
    "Stop and disable the worker instances and timers no longer listed": SERVICES,
    "Ensure each worker instance runs, restarted onto a new release or unit": SERVICES,
    "Ensure each job's timer is enabled and waiting": SERVICES,
    "Reload systemd after the last unit was removed": SERVICES,
    # tls.yml, logs.yml, metrics.yml, metrics_off.yml, firewall.yml
    "Ensure certbot's renewal timer is enabled and running": SERVICES,
    "Ensure logrotate's timer is enabled, with its schedule up to date": SERVICES,
    "Clear the exporter's failed state so that it may start again": SERVICES,
    "Ensure the exporter is enabled and running with its settings": SERVICES,
    "Ensure the exporter is stopped and disabled, no app of the host uses it": SERVICES,
    "Reload Nginx (graceful) without stub_status": SERVICES,
    "Ensure the firewall is enabled and active": SERVICES,
    # nginx.yml, nginx_apply.yml
    "Ensure Nginx is enabled and running": SERVICES,
    "Check the whole Nginx configuration": CHECKS,
    "Fail with Nginx's own message": CHECKS,
    "Reload Nginx (graceful) when its configuration or certificate changed": SERVICES,
    # acme.yml, acme_copy.yml
    "Check that every name reaches this host before the CA is asked": CHECKS,
    "Fail with the names and the CA's answer when no certificate came": CHECKS,
    "Warn when the issuer has no certificate to give yet": CHECKS,
}
# Static imports never show up as tasks of their own in the recap.
STATIC = {"ansible.builtin.import_tasks", "import_tasks", "ansible.builtin.import_role", "import_role"}
RECAP_LINE = re.compile(r"^(?P<name>.+?) -*\s*(?P<s>\d+\.\d\d)s$", re.M)
ROLE_PREFIX = re.compile(r"^[\w.]+ : ")


def recap_tasks(stdout):
    """Every task of ansible.posix.profile_tasks' recap (PROFILE_TASKS_TASK_OUTPUT_LIMIT=all),
    slowest first: [[name, s], ...]."""
    recap = stdout.split("TASKS RECAP")[-1] if "TASKS RECAP" in stdout else ""
    return [[m["name"].strip(), float(m["s"])] for m in RECAP_LINE.finditer(recap)]


def task_names(tasks):
    """The names of TASKS (a task file's list), blocks included, static imports left out."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        if "name" in task and not STATIC & task.keys() and not {"block"} & task.keys():
            yield task["name"]
        for part in ("block", "rescue", "always"):
            yield from task_names(task.get(part))


def task_index(role=ROLE):
    """{task name: file} for every task of the role, by the file it is in ("tasks/app.yml")."""
    index = {}
    for path in sorted((role / "tasks").glob("*.yml")) + [role / "handlers" / "main.yml"]:
        for name in task_names(yaml.safe_load(path.read_text())):
            index.setdefault(name, []).append(str(path.relative_to(role)))
    return index


def name_pattern(name):
    """A task name as a pattern: its Jinja expressions match whatever they rendered to."""
    return re.compile(".+?".join(map(re.escape, re.split(r"\{\{.*?\}\}", name))) + r"\Z")


def phase_of_task(name, file):
    return TASK_PHASES.get(name) or FILE_PHASES.get(file) or OTHER


class Phases:
    """Recap names to phases, from the role's task files as they are now."""

    def __init__(self, role=ROLE):
        index = task_index(role)
        self.by_name = {name: phase_of_task(name, files[0]) for name, files in index.items()
                        if any(FILE_PHASES.get(f) for f in files)}
        self.patterns = [(name_pattern(name), phase) for name, phase in self.by_name.items() if "{{" in name]

    def of(self, recap_name):
        name = ROLE_PREFIX.sub("", recap_name)
        if name in self.by_name and recap_name != name:
            return self.by_name[name]
        for pattern, phase in self.patterns:
            if recap_name != name and pattern.match(name):
                return phase
        return OTHER

    def sum_up(self, tasks, total_s):
        """{phase: s} of TASKS ([[name, s], ...]), with the tasks' sum and the converge's TOTAL_S."""
        out = {phase: 0.0 for phase in PHASES}
        for name, seconds in tasks:
            out[self.of(name)] += seconds
        return {"phases": {phase: round(s, 1) for phase, s in out.items()},
                "tasks_s": round(sum(s for _, s in tasks), 1), "total_s": total_s}
