"""Running commands: on the controller (sh) and in the benchmark's container (dexec), and the
progress line every step prints."""
import subprocess
import time

STARTED = time.time()


def progress(message):
    print(f"[{time.time() - STARTED:6.0f} s] {message}", flush=True)


def sh(*args, check=True, capture=True, env=None, stdin=None):
    result = subprocess.run(args, check=False, capture_output=capture, text=True, env=env, input=stdin)
    if check and result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}")
    return result


def dexec(container, script, check=True):
    return sh("docker", "exec", container, "bash", "-c", script, check=check)
