#!/bin/sh
# Every test tier, as `make test` and CI run them:
#   1. unit, protocol, device conformance and interop tests (swift test),
#      with a one-node Ceph cluster on 127.0.0.1 for the RADOS device;
#   2. kernel scenarios: the real Linux nbd driver under qemu (nbd/).
# Whatever this starts, it stops, even when a tier fails.
set -eu
cd "$(dirname "$0")/.."

scripts/install-packages.sh test
scripts/install-packages.sh ceph
scripts/install-packages.sh kernel

# Warnings are errors here, not in Package.swift (see there why).
swift build --build-tests -Xswiftc -warnings-as-errors
bin=$(swift build --show-bin-path)

# A short path: Ceph's admin sockets must fit in 107 characters.
cluster=$(mktemp -d /tmp/buse-ceph.XXXXXX)
stop_cluster() { scripts/ceph-cluster.sh stop "$cluster" --purge >/dev/null 2>&1 || true; }
trap stop_cluster EXIT INT TERM
scripts/ceph-cluster.sh start "$cluster"
export CEPH_CONF="$cluster/ceph.conf"

# CI shows only the end of the output: failures are repeated there.
log=$(mktemp /tmp/buse-test-log.XXXXXX)
summarise() {
    if grep -q '✘' "$log"; then
        echo "== failed tests and their issues (repeated from above) =="
        grep -A4 '✘' "$log" | grep -v '^--$' | head -80
        # A disk that fills fails dozens of unrelated tests at once.
        if grep -qi 'no space left on device' "$log"; then
            echo "== failures above say 'No space left on device': the disk filled during the run" \
                "(make test needs about 5 GB free); free in /tmp now: $(df -h --output=avail /tmp | tail -1) =="
        fi
    fi
    if [ -n "$failed_steps" ]; then
        echo "== steps that failed (their output is above) ==$failed_steps"
    fi
    rm -f "$log"
}

status=0
# A step that fails is named again at the very end, where CI's excerpt is:
# a check that fails in the first minute is otherwise 25 minutes up.
failed_steps=""
failed() { status=1; failed_steps="$failed_steps
  - $1"; }
swift format lint --strict --recursive Sources Tests Package.swift || failed "lint: run make format"
scripts/check-nonsending-boundary.py || failed "scripts/check-nonsending-boundary.py (Package.swift)"
# A closure the compiler named like another may run in its place (see there).
scripts/check-closure-names.py "$bin/busePackageTests.xctest" "$bin/buse" || failed "scripts/check-closure-names.py"
# XCTest would only print "Executed 0 tests": every test is Swift Testing.
BUSE_BINARY="$bin/buse" swift test --skip-build --disable-xctest 2>&1 | tee "$log"
# sh has no pipefail: the run passed only if Swift Testing says so (a test
# process that crashes prints no ✘, only no closing line).
grep -q 'Test run with .* passed' "$log" || failed "swift test: no closing 'Test run ... passed' line"
# Tests that take the cooperative pool for themselves, in a process of their own.
pool_log=$(mktemp /tmp/buse-test-log.XXXXXX)
BUSE_POOL_TESTS=1 swift test --skip-build --disable-xctest --filter PeerConnectorTests 2>&1 | tee "$pool_log"
grep -q 'Test run with .* passed' "$pool_log" || failed "swift test --filter PeerConnectorTests (BUSE_POOL_TESTS=1)"
cat "$pool_log" >> "$log" && rm -f "$pool_log"
BUSE="$bin/buse" nbd/run-scenarios.sh || failed "nbd/run-scenarios.sh (kernel scenarios)"
summarise
exit $status
