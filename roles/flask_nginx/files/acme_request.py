#!/usr/bin/python3
"""Run a certbot request, retrying transient CA errors with a growing delay.

Usage: acme_request.py RETRIES DELAY COMMAND...

Transient (retried at most RETRIES times, waiting DELAY seconds, doubled after
each attempt; a longer Retry-After of the CA wins, up to MAX_WAIT): bad nonce,
rate limited / HTTP 429, server errors (5xx, serverInternal), timeouts,
refused or reset connections. Permanent (fail at once): unauthorized,
rejectedIdentifier, caa, dns, malformed and every error not known as
transient. The last attempt's stdout and stderr are passed through; each
attempt is reported on stderr as a line starting with "flask-nginx: attempt".
The exit code is the last attempt's. Stdlib only.

certbot prints only a problem's detail ("Error returned by the ACME server:
the CA is overloaded"); the problem's type and the HTTP status are in its
debug log of the run (letsencrypt.log, rotated at every start), so a failed
attempt is classified on its output plus those lines of the log.
"""
import datetime
import re
import subprocess
import sys
import time

MAX_WAIT = 300
CERTBOT_LOG = "/var/log/letsencrypt/letsencrypt.log"

PERMANENT = re.compile(
    r"acme:error:(unauthorized|rejectedIdentifier|caa|dns|malformed|connection|incorrectResponse|badCSR|"
    r"unsupportedIdentifier|accountDoesNotExist|invalidContact|unsupportedContact|externalAccountRequired|"
    r"badSignatureAlgorithm|userActionRequired|orderNotReady|badRevocationReason|alreadyRevoked)\b"
    r"|Type:\s+(unauthorized|rejectedIdentifier|caa|dns|malformed|connection|incorrectResponse)\b")
TRANSIENT = re.compile(
    r"acme:error:(badNonce|rateLimited|serverInternal)\b|\bHTTP 429\b|Too Many Requests|\b50[0234]\b"
    r"|Internal Server Error|Service Unavailable|Bad Gateway|Gateway Time-?out|timed? ?out|Connection refused"
    r"|Connection reset|Connection aborted|RemoteDisconnected|Max retries exceeded|Temporary failure",
    re.IGNORECASE)
LOG_PROBLEM = re.compile(r'"type":\s*"urn:ietf:params:acme:error:(\w+)"|^HTTP ([45]\d\d)$', re.MULTILINE)
RETRY_AFTER_SECONDS = re.compile(r"Retry-After:?\s*(\d+)", re.IGNORECASE)
RETRY_AFTER_TIME = re.compile(r"retry after (\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)", re.IGNORECASE)


def classify(output):
    """('permanent' | 'transient', the text that decided it). Permanent wins over transient."""
    for kind, pattern in (("permanent", PERMANENT), ("transient", TRANSIENT)):
        match = pattern.search(output)
        if match:
            return kind, match.group(0)
    return "permanent", "not a known transient error"


def log_problems(path=CERTBOT_LOG):
    """The last ACME problem type and HTTP error status in certbot's log of its last run, one per line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            text = log.read()
    except OSError:
        return ""
    # The last ones decide: earlier problems are part of normal flows (certbot
    # asks for an existing account first and gets accountDoesNotExist).
    matches = list(LOG_PROBLEM.finditer(text))
    types = [f"acme:error:{m.group(1)}" for m in matches if m.group(1)][-1:]
    statuses = [f"HTTP {m.group(2)}" for m in matches if m.group(2)][-1:]
    return "\n".join(types + statuses)  # the type first: it says more than the status


def retry_after(output, now=None):
    """Seconds the CA asks to wait (Retry-After), or 0."""
    match = RETRY_AFTER_SECONDS.search(output)
    if match:
        return int(match.group(1))
    match = RETRY_AFTER_TIME.search(output)
    if match:
        when = datetime.datetime.fromisoformat(match.group(1).replace(" ", "T")).replace(tzinfo=datetime.timezone.utc)
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return max(0, int((when - now).total_seconds()))
    return 0


def wait_before(attempt, delay, output):
    """Seconds to wait after failed attempt ATTEMPT (1-based): DELAY doubled per attempt, or the CA's Retry-After."""
    return max(delay * 2 ** (attempt - 1), retry_after(output))


def main(argv, run=subprocess.run, sleep=time.sleep, problems=log_problems):
    retries, delay, command = int(argv[1]), int(argv[2]), argv[3:]
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        result = run(command, capture_output=True, text=True, check=False)
        output = result.stdout + result.stderr
        if result.returncode == 0:
            note = f"flask-nginx: attempt {attempt} of {attempts}: certificate issued\n"
            return result.returncode, result.stdout, result.stderr + note
        kind, reason = classify(output + "\n" + problems())
        wait = wait_before(attempt, delay, output)
        note = f"flask-nginx: attempt {attempt} of {attempts}: {kind} error ({reason})"
        if kind == "permanent" or attempt == attempts or wait > MAX_WAIT:
            if kind == "transient" and wait > MAX_WAIT and attempt < attempts:
                note += f"; the CA asks to wait {wait}s, longer than {MAX_WAIT}s"
            return result.returncode, result.stdout, result.stderr + note + ", giving up\n"
        sys.stderr.write(note + f", retrying in {wait}s\n")
        sys.stderr.flush()
        sleep(wait)
    raise AssertionError("unreachable")


if __name__ == "__main__":
    rc, out, err = main(sys.argv)
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.exit(rc)
