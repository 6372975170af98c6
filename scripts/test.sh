#!/usr/bin/env bash
# Run the whole test suite (what CI runs), or one part of it:
#   scripts/test.sh                 lint, fast tests, every Molecule scenario
#   scripts/test.sh lint|unit
#   scripts/test.sh molecule [SCENARIO...]
#
# The whole suite runs in two lanes, to use both cores on purpose:
#   lane 1: lint, the fast tests, then the tls scenario
#   lane 2: Docker, the test images and the package caches (bootstrap.sh
#           machine), then the default scenario, the longest
# and the lane that is done first runs the rest (cluster).
# A scenario's first converge (the heaviest step) holds the setup lock, so no
# two first converges overlap; a scenario verifies while the next one sets up.
# A test that judges behaviour under load is marked quiet and gets the machine
# to itself: every other test and every heavy step here holds the quiet lock
# shared (shared, below; molecule/shared/machine_share.py has the tests' side). Each
# scenario logs to its own file; its summary (pytest's last line, the slowest
# tests, the ansible-playbook runs made inside tests) is printed when it ends,
# and all of it when it fails, with the lines that say what failed last.
#
# Every stage prints its time, and the run ends with a table of them. The
# first failure stops the run. One run of this script at a time on a machine
# (the suite lock): scenarios name their containers.
set -euo pipefail
cd "$(dirname "$0")/.."
suite_lock=${FLASK_NGINX_MOLECULE_LOCK:-/tmp/flask-nginx-molecule.lock}
setup_lock=${FLASK_NGINX_SETUP_LOCK:-/tmp/flask-nginx-setup.lock}
export FLASK_NGINX_QUIET_LOCK=${FLASK_NGINX_QUIET_LOCK:-/tmp/flask-nginx-quiet.lock}
# Every scenario, in the order `molecule` runs them one by one; in the whole
# suite, lane 1 runs the first of lane1_scenarios, lane 2 default, and the
# lane that is free first takes each of the rest.
all_scenarios=(default tls cluster)
lane1_scenarios=(tls)
rest_scenarios=(cluster)

started=$(date +%s)
# The machine's CPU time so far (busy, all), from /proc/stat: how much of both
# cores the run used, printed at the end (what more parallelism could win).
cpu_ticks() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8; print busy, busy + $5 + $6 }' /proc/stat; }
read -r cpu_busy0 cpu_all0 < <(cpu_ticks)
logs=$(mktemp -d "${TMPDIR:-/tmp}/flask-nginx-test.XXXXXX")
times=$logs/stage-times
duration() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $(( s / 60 )) $(( s % 60 )); }
say() { echo "$*"; }
# shared COMMAND...: run COMMAND holding the quiet lock shared, so that no quiet
# test runs meanwhile. It passes the turnstile first (a waiting quiet test holds
# it), and only this shell holds the lock (COMMAND's processes do not inherit it).
shared() {
  flock "$FLASK_NGINX_QUIET_LOCK.turnstile" true
  ( exec 7>"$FLASK_NGINX_QUIET_LOCK"; flock -s 7; "$@" 7>&- )
}
# stage NAME COMMAND...: run COMMAND as a stage, timed; its time goes to the table.
stage() {
  local name=$1 t0 rc=0
  shift
  t0=$(date +%s)
  say "==> $name (at $(duration "$started"))"
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    say "--- $name: ok in $(duration "$t0") (total $(duration "$started"))"
    printf '%s\t%s\tok\n' "$(duration "$t0")" "$name" >>"$times"
  else
    say "--- $name: FAILED after $(duration "$t0") (total $(duration "$started"))" >&2
    printf '%s\t%s\tFAILED\n' "$(duration "$t0")" "$name" >>"$times"
  fi
  return "$rc"
}
print_times() {
  [ -s "$times" ] || return 0
  echo "=== stage times (wall clock; the two lanes overlap)"
  column -t -s $'\t' "$times" 2>/dev/null || cat "$times"
  local busy all
  read -r busy all < <(cpu_ticks)
  echo "=== total: $(duration "$started"), the cores busy $(( 100 * (busy - cpu_busy0) / (all - cpu_all0 + 1) ))% of the time"
}

part=${1:-all}
[ $# -gt 0 ] && shift
case "$part" in
  all|lint|unit|molecule) ;;
  *) echo "usage: $0 [all|lint|unit|molecule [SCENARIO...]]" >&2; exit 2 ;;
esac

# The tools first (the lint and the fast tests need them); in the whole suite the
# machine's part (Docker, the images, the package caches) runs while the lint and
# the fast tests do, and each scenario waits for it (wait_machine).
machine_log=$logs/bootstrap-machine.log
bootstrap_machine() {
  if shared scripts/bootstrap.sh machine >"$machine_log" 2>&1; then touch "$logs/machine.ok"; return 0; fi
  cat "$machine_log" >&2
  touch "$logs/machine.failed"
  return 1
}
wait_machine() {
  until [ -e "$logs/machine.ok" ]; do
    if [ -e "$logs/machine.failed" ]; then echo "the machine's bootstrap failed (above)" >&2; return 1; fi
    sleep 1
  done
}
if [ "$part" = molecule ]; then
  stage "bootstrap: the tools, Docker, the test images, the package caches" scripts/bootstrap.sh || exit 1
  touch "$logs/machine.ok"
else
  stage "bootstrap: the tools" scripts/bootstrap.sh tools
fi
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
if [ -z "${FLASK_NGINX_PIP_CA_BUNDLE:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export FLASK_NGINX_PIP_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi
export FLASK_NGINX_CACHE=${FLASK_NGINX_CACHE:-/var/cache/flask-nginx}

# antsibull-docs reads the collection through ansible-doc, which does not list modules that are
# symbolic links (plugins/modules/ links into the role), so their docs would go unchecked: lint a
# copy of the working tree (the files git tracks or would add) with the links made files. The
# collection's dependencies (community.crypto) are those the pinned ansible package bundles.
lint_collection_docs() {
  local tmp dest collections rc=0
  tmp=$(mktemp -d)
  dest=$tmp/ansible_collections/flask_nginx/flask_nginx
  mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
    | tar --null -T - -chf - | tar -xf - -C "$dest"
  collections=$(python3 -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))')
  (cd "$dest" && ANSIBLE_COLLECTIONS_PATH="$collections" antsibull-docs lint-collection-docs --plugin-docs .) || rc=$?
  rm -rf "$tmp"
  return "$rc"
}
run_lint() {
  stage yamllint yamllint --strict . || return 1
  stage "ansible-lint (production profile)" shared ansible-lint --profile production || return 1
  stage "container flags of the scenarios (images/systemd-container.yml)" \
    python3 images/systemd_container.py check molecule/*/molecule.yml || return 1
  stage "collection docs (antsibull-docs lint-collection-docs --plugin-docs)" shared lint_collection_docs || return 1
  stage "changelog fragments (antsibull-changelog lint)" antsibull-changelog lint
}
run_unit() {
  # Independent tests, on both cores (pytest-xdist); the slowest 15 at the end.
  stage "fast tests (pytest -n 2, no containers)" shared pytest -q -n 2 --dist loadfile --durations=15 tests
}

# A scenario's output is long and what failed is far above its end (Molecule's
# cleanup and destroy come after): print those lines again, last. They are
# pytest's summary (FAILED/ERROR test - message) and Ansible's failed tasks.
what_failed() {  # SCENARIO LOG
  local lines
  lines=$(sed -E 's/\x1b\[[0-9;]*m//g; s/^[[:space:]]*│ ?//' "$2" \
    | grep -E '^(FAILED|ERROR|CRITICAL) [^-]|^(fatal|failed): \[|^\* \[' | cut -c1-400 | tail -n 20) || true
  echo "=== what failed in molecule -s $1 (the lines from its output above):" >&2
  echo "${lines:-(no FAILED, ERROR or fatal line: read the output above)}" >&2
}
# What a passing scenario's verify says about time: the slowest tests, the
# ansible-playbook runs made inside tests, and pytest's last line.
scenario_summary() {  # SCENARIO LOG
  echo "=== molecule -s $1: its verify's slowest tests and playbook runs"
  sed -E 's/\x1b\[[0-9;]*m//g; s/^[[:space:]]*│ ?//' "$2" | awk '
    /^=+ slowest [0-9]+ durations =+$/ || /^=+ ansible-playbook runs inside tests/ || /^=+ quiet tests/ { show = 1 }
    /^=+ .*(passed|failed|error).* in [0-9.]+s/ { print; show = 0; next }
    /^=+ short test summary/ { show = 0 }
    show { print }'
}
molecule_step() {  # SCENARIO STEP LOG
  echo "### molecule $2 -s $1" >>"$3"
  COLUMNS=${COLUMNS:-200} molecule "$2" -s "$1" >>"$3" 2>&1
}
# create, prepare, converge, idempotence; the first converge (the heaviest
# step: packages, virtualenvs) under the setup lock, so that no two overlap.
scenario_setup() {  # SCENARIO LOG
  local step
  for step in destroy create prepare; do
    shared molecule_step "$1" "$step" "$2" || return 1
  done
  (exec 8>"$setup_lock"; flock 8; shared molecule_step "$1" converge "$2" 8>&-) || return 1
  shared molecule_step "$1" idempotence "$2"
}
run_scenario() {  # SCENARIO
  local s=$1 log=$logs/$1.log
  wait_machine || return 1
  : >"$log"
  say "    molecule -s $s logs to $log"
  if stage "molecule -s $s: setup (create, prepare, converge, idempotence)" scenario_setup "$s" "$log" \
    && stage "molecule -s $s: verify" molecule_step "$s" verify "$log"; then
    stage "molecule -s $s: destroy" shared molecule_step "$s" destroy "$log" || return 1
    scenario_summary "$s" "$log"
    return 0
  fi
  sed -E 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 300 >&2
  what_failed "$s" "$log"
  molecule_step "$s" destroy /dev/null || true
  return 1
}
run_molecule() {  # SCENARIO...
  local s
  for s in "$@"; do run_scenario "$s" || return 1; done
}
# The scenarios of rest_scenarios that no other lane took yet (mkdir claims one).
run_rest() {
  local s
  for s in "${rest_scenarios[@]}"; do
    if mkdir "$logs/claimed-$s" 2>/dev/null; then run_scenario "$s" || return 1; fi
  done
}

# Lanes run in the background, each in its own process group (job control);
# the first to fail stops the others.
lane_pids=()
run_lanes() {  # LANE...: each a command line of the functions above
  local lane rc=0 pid
  set -m
  for lane in "$@"; do
    ( eval "$lane" ) &
    lane_pids+=("$!")
  done
  for _ in "${lane_pids[@]}"; do
    if ! wait -n; then
      rc=1
      for pid in "${lane_pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
      break
    fi
  done
  wait || true
  set +m
  return "$rc"
}

rc=0
exec 9>"$suite_lock"
case "$part" in
  all)
    flock -n 9 || { echo "    waiting for $suite_lock (another run of the suite on this machine)"; flock 9; }
    run_lanes "run_lint && run_unit && run_molecule ${lane1_scenarios[*]} && run_rest" \
      "stage 'bootstrap: Docker, the test images, the package caches' bootstrap_machine && run_molecule default && run_rest" \
      || rc=$?
    ;;
  lint) run_lint || rc=$? ;;
  unit) run_unit || rc=$? ;;
  molecule)
    flock -n 9 || { echo "    waiting for $suite_lock (another run of the suite on this machine)"; flock 9; }
    [ $# -gt 0 ] || set -- "${all_scenarios[@]}"
    run_molecule "$@" || rc=$?
    ;;
esac
print_times
if [ "$rc" -ne 0 ]; then
  echo "--- $part: FAILED, total $(duration "$started") (the scenarios' logs: $logs)" >&2
  exit "$rc"
fi
rm -rf "$logs"
echo "--- $part: passed, total $(duration "$started")"
