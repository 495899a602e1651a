#!/bin/sh
# `buse serve` over TCP to the kernel through the standard nbd-client
# (newstyle handshake, a named export): an ext4 filesystem made, filled,
# trimmed and unmounted on /dev/nbd0 lands intact in buse's backing file.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

image=/tmp/vol.img
device=/dev/nbd0
mountpoint=/mnt/vol
list=$RESULTS/files.sha256

ip link set lo up
step "buse serve, backing file $image"
"$BUSE" serve --export "vol=file:$image?size=256M" --listen 127.0.0.1:10809 > "$RESULTS/buse.log" 2>&1 &
buse=$!
wait_until 60 "buse to listen on 127.0.0.1:10809" listening 10809

step "modprobe nbd; nbd-client -N vol 127.0.0.1 10809 $device"
modprobe nbd
nbd-client -N vol 127.0.0.1 10809 "$device"
wait_until 30 "$device to be attached" attached "$device"
check_kernel_view "$device" 268435456

make_fill_trim "$device" "$mountpoint" "$list"

step "nbd-client -d $device"
nbd-client -d "$device"
wait_until 30 "$device to be detached" detached "$device"

step "stopping buse with SIGTERM"
kill -TERM "$buse"
status=0
wait "$buse" || status=$?
[ "$status" = 0 ] || fail "buse exited with status $status after SIGTERM"

check_image "$image" /data "$list"
step "passed"
