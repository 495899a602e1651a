#!/bin/sh
# `buse connect --connections 2 --daemon` attaches a file device to /dev/nbdX
# through netlink with two sockets (two hardware queues). The kernel sees the
# export's size, block size, flush and trim; an ext4 filesystem made, filled,
# trimmed and unmounted there, then `buse disconnect`, lands intact in the
# backing file.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

image=/tmp/vol.img
uri="file:$image?size=256M"
mountpoint=/mnt/vol
list=$RESULTS/files.sha256

step "modprobe nbd; buse connect --connections 2 --daemon $uri"
modprobe nbd
device=$(connect_daemon "$RESULTS/connect.out" --connections 2 --block-size 4096 --pid-file /run/buse.pid "$uri")
pid=$(cat /run/buse.pid)
echo "attached $device, daemon pid $pid"
kill -0 "$pid" || fail "the daemon (pid $pid) is not running"
attached "$device" || fail "$device has no size once buse connect returned"

check_kernel_view "$device" 268435456
[ "$(blockdev --getss "$device")" = 4096 ] || fail "$device has logical block $(blockdev --getss "$device"), not 4096"
# The kernel makes one hardware queue per connection.
queues=$(ls "/sys/block/${device#/dev/}/mq" | wc -l)
[ "$queues" = 2 ] || fail "$device has $queues hardware queues, not 2: not two connections?"

step "buse list"
"$BUSE" list | tee "$RESULTS/list.txt"
grep -q "^$device .*$image.* $pid " "$RESULTS/list.txt" || fail "buse list does not show $device with $image and pid $pid"

make_fill_trim "$device" "$mountpoint" "$list"

step "buse disconnect $device"
disconnect_daemon "$device" "$pid"
"$BUSE" list > "$RESULTS/list-after.txt"
if grep -q "^$device " "$RESULTS/list-after.txt"; then
  cat "$RESULTS/list-after.txt"
  fail "buse list still shows $device after buse disconnect"
fi

step "the kernel's flushes and trims reached buse"
check_served "$device"

check_image "$image" /data "$list"
step "passed"
