#!/usr/bin/env bash
# Run the whole test suite (what CI runs), or one part of it:
#   scripts/test.sh                 lint, fast tests, every Molecule scenario
#   scripts/test.sh lint|unit
#   scripts/test.sh molecule [SCENARIO...]
# Stages run one after another; each prints a line when it starts and one with
# its time when it ends, and the run ends with the total. The first failure
# stops the run: the fast tier (lint, then the fast tests with pytest -x) runs
# before any scenario. The test images are built (when images/build.sh changed)
# once, by scripts/bootstrap.sh; Molecule only starts them (pre_build_image).
# Every scenario runs under flock $lock: never two at once on this machine,
# whoever starts them (so do not wrap this script in the same flock: it would
# wait for itself). When a scenario fails, the lines that say what failed are
# printed again at the end of the run (what_failed).
set -euo pipefail
cd "$(dirname "$0")/.."
lock=${FLASK_NGINX_MOLECULE_LOCK:-/tmp/flask-nginx-molecule.lock}
# Scenarios in the order they build on each other.
all_scenarios=(default tls cluster)

started=$(date +%s)
stage= stage_started=
duration() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $(( s / 60 )) $(( s % 60 )); }
begin() { stage=$1; stage_started=$(date +%s); echo "==> $stage (at $(duration "$started"))"; }
end() { echo "--- $stage: ok in $(duration "$stage_started") (total $(duration "$started"))"; stage=; }
finish() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$stage" ]; then
    echo "--- $stage: FAILED after $(duration "$stage_started") (total $(duration "$started"))" >&2
  fi
}
trap finish EXIT

part=${1:-all}
[ $# -gt 0 ] && shift
case "$part" in
  all|lint|unit|molecule) ;;
  *) echo "usage: $0 [all|lint|unit|molecule [SCENARIO...]]" >&2; exit 2 ;;
esac

begin "bootstrap (tools, Docker, test images)"
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
if [ -z "${FLASK_NGINX_PIP_CA_BUNDLE:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export FLASK_NGINX_PIP_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi
end

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
  begin yamllint
  yamllint --strict .
  end
  begin "ansible-lint (production profile)"
  ansible-lint --profile production
  end
  begin "container flags of the scenarios (images/systemd-container.yml)"
  python3 images/systemd_container.py check molecule/*/molecule.yml
  end
  begin "collection docs (antsibull-docs lint-collection-docs --plugin-docs)"
  lint_collection_docs
  end
  begin "changelog fragments (antsibull-changelog lint)"
  antsibull-changelog lint
  end
}
run_unit() {
  begin "fast tests (pytest -x, no containers)"
  pytest -x -q --durations=15 tests
  end
}
# A scenario's output is long and what failed is far above its end (Molecule's
# cleanup and destroy come after): print those lines again, last. They are
# pytest's summary (FAILED/ERROR test - message) and Ansible's failed tasks.
what_failed() {  # SCENARIO LOG
  local lines
  lines=$(sed -E 's/\x1b\[[0-9;]*m//g; s/^[[:space:]]*│ ?//' "$2" \
    | grep -E '^(FAILED|ERROR|CRITICAL) [^-]|^(fatal|failed): \[|^\* \[' | cut -c1-400 | tail -n 20) || true
  echo "=== what failed in molecule test -s $1 (the lines from its output above):" >&2
  echo "${lines:-(no FAILED, ERROR or fatal line: read the output above)}" >&2
}
run_molecule() {
  local scenarios=("$@") s log
  [ ${#scenarios[@]} -gt 0 ] || scenarios=("${all_scenarios[@]}")
  for s in "${scenarios[@]}"; do
    begin "molecule test -s $s"
    flock -n "$lock" true || echo "    waiting for $lock (another Molecule run on this machine)"
    log=$(mktemp "${TMPDIR:-/tmp}/flask-nginx-molecule-$s.XXXXXX")
    # Wide lines, so that a test's id and its message stay on one line.
    if ! COLUMNS=${COLUMNS:-200} flock "$lock" molecule test -s "$s" 2>&1 | tee "$log"; then
      what_failed "$s" "$log"
      rm -f "$log"
      return 1
    fi
    rm -f "$log"
    end
  done
}

case "$part" in
  all) run_lint; run_unit; run_molecule ;;
  lint) run_lint ;;
  unit) run_unit ;;
  molecule) run_molecule "$@" ;;
esac
echo "--- $part: passed, total $(duration "$started")"
