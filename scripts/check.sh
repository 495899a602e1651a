#!/bin/sh
# The edit loop (`make check`, a few minutes): build with warnings as errors,
# lint, then every Swift Testing suite but the interop tier (real clients and
# processes), with the one-node Ceph cluster the RADOS device tests need.
set -eu
cd "$(dirname "$0")/.."

scripts/install-packages.sh run
scripts/install-packages.sh ceph

swift build --build-tests -Xswiftc -warnings-as-errors
swift format lint --strict --recursive Sources Tests Package.swift
scripts/check-nonsending-boundary.py
bin=$(swift build --show-bin-path)
scripts/check-closure-names.py "$bin/busePackageTests.xctest" "$bin/buse"

cluster=$(mktemp -d /tmp/buse-ceph.XXXXXX)
stop_cluster() { scripts/ceph-cluster.sh stop "$cluster" --purge >/dev/null 2>&1 || true; }
trap stop_cluster EXIT INT TERM
scripts/ceph-cluster.sh start "$cluster"
export CEPH_CONF="$cluster/ceph.conf"
swift test --skip-build --disable-xctest --skip InteropTests
