"""One build for the fleet (run on the build host, by tasks/fleet_wheels.yml, as root):

    fleet_wheels.py BUILD_DIR ARCHIVE SETS_JSON

makes each wheel set of SETS_JSON under BUILD_DIR/<name>/ once (a set that is complete is
not built again), then packs the wheels of the sets into ARCHIVE (a tar of .whl files,
no directories) for an app host of the same platform that installs them with no index.
It prints one JSON line: {"changed": bool, "built": [names], "wheels": count}.

A set is {"name": ..., "kind": ...}, where kind is:
- "download": "packages" as published (uv, whose wheel is the binary);
- "wheel": "packages" and everything they need (Gunicorn, gevent);
- "release": what the app's release needs, by "install" (the way tasks/app_venv.yml
  installs it): the requirements file ("requirements", hashes checked), the project and
  its dependencies ("project"), or the versions of uv.lock ("uv_lock", exported by uv
  with their hashes; a lock out of date is refused), each with the project's build backend, so that a host without an
  index can build the project from the release's code. The release's code must be on this
  host ("app" names it): the build host gets a release before, or with, the hosts that
  take its build (a set needs the code alone, not the build host's own virtualenv).

The index, its CA bundle and proxy come from the environment (PIP_*), never from the
command line. pip is the system Python's, in a virtualenv of its own under BUILD_DIR.
Sets are made in a temporary directory and renamed when complete, under a lock, so a
failure or a second run at the same time never leaves half a set; the sets of releases
that this host no longer keeps go.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile


class Refused(Exception):
    pass


def run(argv, cwd=None, env=None):
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise Refused(f"{' '.join(argv[:4])} ... failed (exit {done.returncode}):\n{done.stdout.strip()[-3000:]}")
    return done.stdout


def build_requires(src):
    """The project's build backend (build-system.requires), or setuptools' default."""
    try:
        import tomllib
        with open(os.path.join(src, "pyproject.toml"), "rb") as fh:
            return tomllib.load(fh).get("build-system", {}).get("requires", ["setuptools>=40.8.0"])
    except (ImportError, OSError, ValueError):
        return ["setuptools>=40.8.0", "wheel"]


def make_set(spec, pip, dest):
    wheel = [pip, "-m", "pip", "wheel", "--wheel-dir", dest]
    kind = spec["kind"]
    if kind == "download":
        run([pip, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", dest] + spec["packages"])
        return
    if kind == "wheel":
        run(wheel + spec["packages"])
        return
    app = spec["app"]
    if not os.path.isdir(app) or not os.listdir(app):
        raise Refused(f"release {spec['release']} has no code on this host (no {app}): the build host "
                      "(flask_nginx_build_host) gets a release before, or with, the hosts that take its build")
    install = spec["install"]
    if install == "none":
        return
    # A copy of the code: building in place would leave build files in the live release.
    with tempfile.TemporaryDirectory(prefix="flask-nginx-src-") as src:
        src = os.path.join(src, "app")
        shutil.copytree(app, src, symlinks=True)
        if install == "requirements":
            run(wheel + ["--requirement", os.path.join(src, spec["requirements"])], cwd=src)
            return
        if install == "uv_lock":
            lock = os.path.join(dest, "uv-lock-requirements.txt")
            # --locked: a lock that no longer fits pyproject.toml is refused here, as the build
            # host's own install refuses it (the hosts that take the build read it --frozen).
            run([spec["uv"], "export", "--locked", "--no-dev", "--no-emit-project", "--format", "requirements-txt",
                 "--project", src, "--output-file", lock, "--quiet"], env={**os.environ, "UV_NO_CONFIG": "1"})
            run(wheel + ["--no-deps", "--requirement", lock], cwd=src)
            os.remove(lock)
        else:
            run(wheel + [src], cwd=src)
        run(wheel + build_requires(src))


def prune(build_dir, sets):
    """Remove the sets of releases this host no longer keeps (flask_nginx_releases_keep)."""
    for spec in sets:
        if spec["kind"] != "release":
            continue
        kept = set(os.listdir(os.path.dirname(os.path.dirname(spec["app"]))))
        for name in os.listdir(build_dir):
            parts = name.split("-")
            if parts[0] == "release" and len(parts) > 2 and parts[1] not in kept:
                shutil.rmtree(os.path.join(build_dir, name), ignore_errors=True)
        return


def main(build_dir, archive, sets_json):
    sets = json.loads(sets_json)
    os.makedirs(build_dir, mode=0o755, exist_ok=True)
    built = []
    with open(os.path.join(build_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pip = os.path.join(build_dir, ".pip", "bin", "python")
        if not os.path.exists(pip):
            run(["/usr/bin/python3", "-m", "venv", os.path.join(build_dir, ".pip")])
        for spec in sets:
            final = os.path.join(build_dir, spec["name"])
            if os.path.exists(os.path.join(final, ".complete")):
                continue
            work = tempfile.mkdtemp(prefix=f".{spec['name']}-", dir=build_dir)
            try:
                make_set(spec, pip, work)
                open(os.path.join(work, ".complete"), "w").close()
                os.chmod(work, 0o755)
                shutil.rmtree(final, ignore_errors=True)
                os.rename(work, final)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            built.append(spec["name"])
        prune(build_dir, sets)
        wheels = 0
        fd, tmp = tempfile.mkstemp(prefix=".out-", dir=build_dir)
        os.close(fd)
        with tarfile.open(tmp, "w") as tar:
            for spec in sets:
                folder = os.path.join(build_dir, spec["name"])
                for name in sorted(os.listdir(folder)):
                    if name.endswith(".whl"):
                        tar.add(os.path.join(folder, name), arcname=name)
                        wheels += 1
        os.chmod(tmp, 0o600)
        os.replace(tmp, archive)
    print(json.dumps({"changed": bool(built), "built": built, "wheels": wheels}))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Refused as refused:
        print(f"flask_nginx: the build host could not make the fleet's wheels: {refused}", file=sys.stderr)
        sys.exit(1)
