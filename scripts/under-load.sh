#!/bin/sh
# Runs the Swift Testing suites matching FILTER N times in a row beside a CPU
# hog (stress-ng on every core), with the one-node Ceph cluster: how a test is
# shown not to depend on the machine's speed.
#   scripts/under-load.sh N FILTER      e.g. scripts/under-load.sh 10 'Rados|DeviceConformance'
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 RUNS FILTER" >&2; exit 2; }
runs=$1 filter=$2

scripts/install-packages.sh test
scripts/install-packages.sh ceph
command -v stress-ng >/dev/null || { apt-get install -y -qq stress-ng >/dev/null || exit 1; }

swift build --build-tests
bin=$(swift build --show-bin-path)
cluster=$(mktemp -d /tmp/buse-ceph.XXXXXX)
stress-ng --cpu "$(nproc)" --timeout 4h --quiet &
hog=$!
finish() { kill "$hog" 2>/dev/null || true; scripts/ceph-cluster.sh stop "$cluster" --purge >/dev/null 2>&1 || true; }
trap finish EXIT INT TERM
scripts/ceph-cluster.sh start "$cluster"
export CEPH_CONF="$cluster/ceph.conf"

failed=0
run=1
while [ "$run" -le "$runs" ]; do
    log=$(mktemp /tmp/buse-under-load.XXXXXX)
    BUSE_BINARY="$bin/buse" swift test --skip-build --disable-xctest --filter "$filter" >"$log" 2>&1 || true
    if grep -q 'Test run with .* passed' "$log"; then
        echo "run $run: $(grep 'Test run with' "$log")"
    else
        failed=$((failed + 1))
        echo "run $run FAILED (log kept: $log)"
        grep -A4 '✘' "$log" | head -40
    fi
    run=$((run + 1))
done
echo "$runs runs, $failed failed"
[ "$failed" -eq 0 ]
