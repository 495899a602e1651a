#!/bin/sh
# Runs every scenario in nbd/scenarios/ in its own VM (nbd/vm.sh), in order,
# with one line per scenario and a closing "N passed, M failed".
#
#   nbd/run-scenarios.sh [BUSE]        BUSE: the buse binary (or env BUSE)
#
# e.g.  swift build --scratch-path .build-kernel --product buse
#       nbd/run-scenarios.sh .build-kernel/debug/buse
# Results of each run are kept under results/nbd/ (see nbd/vm.sh).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
BUSE=${1:-${BUSE:-}}
if [ -z "$BUSE" ]; then
  echo "usage: $0 BUSE-BINARY   (or set BUSE)" >&2
  exit 2
fi
[ -x "$BUSE" ] || { echo "run-scenarios.sh: $BUSE is not an executable" >&2; exit 2; }
BUSE=$(realpath "$BUSE")
export BUSE

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
passed=0
failed=0
for scenario in "$here"/scenarios/*.sh; do
  name=$(basename "$scenario" .sh)
  started=$(date +%s)
  status=0
  summary=$("$here/vm.sh" --quiet "$scenario" 2> "$errors") || status=$?
  seconds=$(($(date +%s) - started))
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    echo "PASS $name (${seconds}s)"
    # What vm.sh said on the way (a hung boot it stopped and booted again).
    sed 's/^/    /' "$errors"
  else
    failed=$((failed + 1))
    echo "FAIL $name (${seconds}s): ${summary#"vm.sh: FAIL $name: "}"
    sed 's/^/    /' "$errors"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
