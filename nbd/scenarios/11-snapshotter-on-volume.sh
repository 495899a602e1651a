#!/bin/sh
# `buse snapshotter serve --volume URI --mount DIR --format`: the layer
# store's root on ext4 made on a buse volume attached as /dev/nbdX by the
# same process, the chain it shares with `buse registry serve --volume`. A
# blank device is refused without --format; with it the snapshotter serves
# on its socket from the mounted filesystem (its metadata and snapshots
# folders are there), and SIGTERM unmounts and detaches; served again, the
# metadata it wrote is still there.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

image=/tmp/layers.img
uri="file:$image?size=256M"
mountpoint=/mnt/layers
socket=/run/buse-snapshotter.sock
log=$RESULTS/snapshotter.log
modprobe nbd

serve() {
  rm -f "$socket"
  "$BUSE" snapshotter serve --socket "$socket" --volume "$uri" --mount "$mountpoint" "$@" >> "$log" 2>&1 &
  pid=$!
  wait_until 60 "the snapshotter to listen on $socket" test -S "$socket"
}

stop() {
  kill -TERM "$pid"
  wait_until 60 "the snapshotter (pid $pid) to exit" pid_gone "$pid"
  mountpoint -q "$mountpoint" && fail "$mountpoint is still mounted after SIGTERM"
  grep -q "volume detached; served" "$log" || fail "no 'volume detached' line in the snapshotter's log"
}

step "a blank volume without --format is refused"
if "$BUSE" snapshotter serve --socket "$socket" --volume "$uri" --mount "$mountpoint" > "$RESULTS/refused.out" 2>&1; then
  fail "serving a blank volume without --format succeeded"
fi
grep -q -- "--format" "$RESULTS/refused.out" || fail "the refusal does not say to add --format: $(cat "$RESULTS/refused.out")"

step "--format: attach, mkfs.ext4, mount, serve"
serve --format
findmnt "$mountpoint" | tee "$RESULTS/findmnt.txt"
grep -q ext4 "$RESULTS/findmnt.txt" || fail "$mountpoint is not an ext4 mount"
ls -la "$mountpoint" | tee "$RESULTS/root.txt"
[ -d "$mountpoint/snapshots" ] && [ -d "$mountpoint/metadata" ] || fail "no snapshots or metadata folder on the volume"
ls "$mountpoint" > "$RESULTS/entries-before.txt"

step "SIGTERM: stop serving, unmount, detach"
stop

step "served again without --format: the store is there"
serve
ls "$mountpoint" > "$RESULTS/entries-after.txt"
cmp -s "$RESULTS/entries-before.txt" "$RESULTS/entries-after.txt" || fail "the root's entries changed: $(cat "$RESULTS/entries-after.txt")"
stop
step "passed"
