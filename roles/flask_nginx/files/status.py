"""Read-only state of one app on this host, as JSON (playbooks/status.yml).

Usage: status.py APP_ROOT UNIT [UNIT...]
Prints {"current", "switched", "releases": [{id, built, complete, deployed}], "units": {UNIT: {...}}};
"deployed" is when the release last went live (its .deployed file, written by the role), "" if never.
Standard library only; changes nothing."""
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

PROPERTIES = ["LoadState", "ActiveState", "SubState", "MainPID", "NextElapseUSecRealtime", "LastTriggerUSec"]


def iso(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def unit_state(name):
    result = subprocess.run(["systemctl", "show", "--property=" + ",".join(PROPERTIES), name],
                            capture_output=True, text=True, check=False)
    state = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    pid = int(state.get("MainPID") or 0)
    children = []
    if pid:
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
                children = handle.read().split()
        except OSError:
            pass
    return {"load": state.get("LoadState", ""), "active": state.get("ActiveState", ""), "sub": state.get("SubState", ""),
            "pid": pid, "children": len(children), "next": state.get("NextElapseUSecRealtime", ""),
            "last": state.get("LastTriggerUSec", "")}


def main(root, units):
    current_link = os.path.join(root, "current")
    releases_dir = os.path.join(root, "releases")
    report = {"current": "", "switched": "", "releases": [], "units": {}}
    if os.path.islink(current_link):
        report["current"] = os.path.basename(os.path.realpath(current_link))
        report["switched"] = iso(os.lstat(current_link).st_mtime)
    if os.path.isdir(releases_dir):
        for name in os.listdir(releases_dir):
            path = os.path.join(releases_dir, name)
            if os.path.isdir(path) and not name.startswith("."):
                complete = any(os.path.exists(os.path.join(path, marker)) for marker in (".complete", ".code-complete"))
                try:
                    with open(os.path.join(path, ".deployed"), encoding="utf-8") as handle:
                        deployed = handle.read().strip()
                except OSError:
                    deployed = ""
                report["releases"].append({"id": name, "built": iso(os.stat(path).st_mtime), "complete": complete,
                                           "deployed": deployed})
    report["releases"].sort(key=lambda release: release["built"], reverse=True)
    # When `current` went live: its .deployed (the link's own time when there is none).
    report["switched"] = next((release["deployed"] for release in report["releases"]
                               if release["id"] == report["current"] and release["deployed"]), report["switched"])
    for unit in units:
        report["units"][unit] = unit_state(unit)
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
