#!/bin/sh
# A RADOS image as a kernel disk. A one-node Ceph cluster runs in the guest
# (the project's scripts/ceph-cluster.sh: one mon, one memstore OSD, on the
# guest's loopback); `buse connect --daemon rados:buse/vol` attaches a fresh
# image to /dev/nbdX, and an ext4 filesystem made, filled, trimmed and
# unmounted there is found clean and intact when the image is attached again,
# read-only. `buse image rm` then leaves no object of the image in the pool.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

scripts=$(cd "$(dirname "$0")/../../scripts" && pwd)
cluster=/tmp/ceph
uri=rados:buse/vol
mountpoint=/mnt/vol
list=$RESULTS/files.sha256

command -v ceph-mon > /dev/null && command -v ceph-osd > /dev/null ||
  fail "Ceph's daemons are not installed on the host (the guest runs its binaries): run scripts/install-packages.sh ceph"
ip link set lo up
step "a one-node Ceph cluster in the guest ($cluster)"
BUSE_CEPH_MEMSTORE=$((1024 * 1024 * 1024)) "$scripts/ceph-cluster.sh" start "$cluster" \
  > "$RESULTS/cluster.out" 2> "$RESULTS/cluster.log" ||
  fail "the cluster did not start: $(tail -n 5 "$RESULTS/cluster.log")"
tail -n 1 "$RESULTS/cluster.log"
export CEPH_CONF=$cluster/ceph.conf
# Stopped by the pids it recorded, however the scenario ends.
trap '"$scripts/ceph-cluster.sh" stop "$cluster" > /dev/null 2>&1 || true' EXIT

step "buse image create buse/vol --size 256M"
"$BUSE" image create buse/vol --size 256M

step "modprobe nbd; buse connect --daemon $uri"
modprobe nbd
device=$(connect_daemon "$RESULTS/connect.out" --pid-file /run/buse.pid "$uri")
pid=$(cat /run/buse.pid)
echo "attached $device, daemon pid $pid"
check_kernel_view "$device" 268435456

make_fill_trim "$device" "$mountpoint" "$list"

step "buse disconnect $device"
disconnect_daemon "$device" "$pid"
check_served "$device"

step "attached again, read-only: e2fsck -fn and every file's checksum"
device=$(connect_daemon "$RESULTS/connect-again.out" --read-only --pid-file /run/buse-again.pid "$uri")
pid=$(cat /run/buse-again.pid)
e2fsck -fn "$device" || fail "e2fsck found problems on $device"
mount -o ro "$device" "$mountpoint"
(cd "$mountpoint/data" && sha256sum --quiet -c "$list") || fail "files on $device do not match their checksums"
umount "$mountpoint"
disconnect_daemon "$device" "$pid"

step "buse image rm buse/vol leaves no object behind"
objects() { rados -p buse ls | grep -cE '^buse_(header|map|data)\.vol(\.|$)' || true; }
before=$(objects)
echo "buse/vol had $before objects (header, map, data written so far)"
[ "$before" -gt 2 ] || fail "buse/vol has only $before objects: were the data objects written?"
"$BUSE" image rm buse/vol
left=$(objects)
[ "$left" = 0 ] || fail "$left objects of buse/vol are left in the pool"
step "passed"
