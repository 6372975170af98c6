#!/usr/bin/env python3
"""The systemd container flags of images/systemd-container.yml, for their readers.

  systemd_container.py docker-run IMAGE      `docker run` arguments, one a line,
                                             ending with IMAGE and its command
  systemd_container.py check MOLECULE.YML... every platform carries the flags and
                                             starts a prebuilt flask-nginx-test image
                                             (exit 1 and a list of differences if not)

bench/setups.py imports it (docker_run_args); scripts/demo.sh runs it."""
import sys
from pathlib import Path

import yaml

FLAGS_FILE = Path(__file__).resolve().with_name("systemd-container.yml")
# Keys a platform may extend (lists it must contain, not equal).
EXTENSIBLE = ("capabilities", "volumes")


def flags():
    return yaml.safe_load(FLAGS_FILE.read_text())


def docker_run_args(image):
    """`docker run` options for a systemd host, then IMAGE and the command."""
    f = flags()
    args = []
    for cap in f["capabilities"]:
        args += ["--cap-add", cap]
    for opt in f["security_opts"]:
        args += ["--security-opt", opt]
    args += ["--cgroupns", f["cgroupns_mode"]]
    for volume in f["volumes"]:
        args += ["-v", volume]
    for path in f["tmpfs"]:
        args += ["--tmpfs", path]
    args += ["--stop-signal", f["stop_signal"]]
    return args + [image, *f["command"].split()]


def check(paths):
    """Differences between each platform of the molecule.yml files and the flags."""
    want, problems = flags(), []
    for path in paths:
        for platform in yaml.safe_load(Path(path).read_text()).get("platforms") or []:
            name = f"{path}: {platform.get('name')}"
            # scripts/bootstrap.sh builds the images, once per run; Molecule only starts them.
            image = str(platform.get("image", ""))
            if not image.startswith("flask-nginx-test:") or platform.get("pre_build_image") is not True:
                problems.append(f"{name}: not a flask-nginx-test image with pre_build_image: true")
            for key, value in want.items():
                have = platform.get(key)
                if key in EXTENSIBLE and isinstance(have, list):
                    lacking = [item for item in value if item not in have]
                    if lacking:
                        problems.append(f"{name}: {key} lacks {lacking}")
                elif have != value:
                    problems.append(f"{name}: {key} is {have!r}, {FLAGS_FILE.name} says {value!r}")
    return problems


def main(argv):
    if len(argv) == 2 and argv[0] == "docker-run":
        print("\n".join(docker_run_args(argv[1])))
        return 0
    if len(argv) >= 2 and argv[0] == "check":
        problems = check(argv[1:])
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"fix them to match {FLAGS_FILE} (or change it, and every reader)", file=sys.stderr)
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
