#!/bin/sh
# The buse daemon behind a mounted filesystem is killed with SIGKILL while a
# writer is busy; `buse connect --reattach` picks the device up again. The
# kernel (netlink, dead-connection timeout) holds I/O meanwhile, so the writer
# sees no error, the filesystem stays clean, and every file the writer had
# finished (written and fsynced) before, during or after the crash is intact.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

image=/tmp/vol.img
uri="file:$image?size=256M"
mountpoint=/mnt/vol
list=$RESULTS/files.sha256
stop=/run/stop-writer

# Writes numbered files of 64-200 KiB, each fsynced (so its data went through
# buse) before its checksum goes on the list; stops at the first error.
writer() {
  local i=1 buffer=/tmp/writer-buffer
  mkdir -p "$mountpoint/data"
  while [ ! -e "$stop" ]; do
    head -c $((64 * 1024 + (i % 16) * 9001)) /dev/urandom > "$buffer"
    dd if="$buffer" of="$mountpoint/data/file-$i" bs=64k conv=fsync status=none || {
      echo "writer: writing file-$i failed" >&2
      return 1
    }
    echo "$(sha256sum < "$buffer" | cut -d' ' -f1)  file-$i" >> "$list"
    i=$((i + 1))
  done
}

# The number of files the writer has finished.
finished() {
  wc -l < "$list"
}

# True once the writer has finished at least $1 files.
finished_at_least() {
  [ "$(finished)" -ge "$1" ]
}

step "modprobe nbd; buse connect --daemon $uri"
modprobe nbd
device=$(connect_daemon "$RESULTS/connect.out" --dead-connection-timeout 120 --pid-file /run/buse.pid "$uri")
pid=$(cat /run/buse.pid)
echo "attached $device, daemon pid $pid"
show_kernel_view "$device"

step "mkfs.ext4 and mount"
mkfs.ext4 -q -F "$device"
mkdir -p "$mountpoint"
mount "$device" "$mountpoint"

step "starting the writer"
: > "$list"
writer > "$RESULTS/writer.log" 2>&1 &
writer=$!
wait_until 60 "the writer to finish 10 files" finished_at_least 10

step "kill -9 the daemon (pid $pid) after $(finished) files"
kill -9 "$pid"
wait_until 10 "the daemon to die" pid_gone "$pid"
wait_until 60 "the writer to block on the dead device" dd_blocked
"$BUSE" list | tee "$RESULTS/list-dead.txt"
before=$(finished)
step "buse connect --reattach $device $uri, the writer at $before files"
echo "+ buse connect --reattach $device --daemon" >> "$RESULTS/connect.log"
"$BUSE" connect --reattach "$device" --daemon --pid-file /run/buse.pid "$uri" \
  > "$RESULTS/reattach.out" 2>> "$RESULTS/connect.log" ||
  fail "buse connect --reattach failed: $(tail -n 5 "$RESULTS/connect.log")"
pid=$(cat /run/buse.pid)
echo "reattached $device, daemon pid $pid"
kill -0 "$pid" || fail "the new daemon (pid $pid) is not running"
wait_until 60 "the writer to finish 10 more files (see writer.log)" finished_at_least $((before + 10))

step "stopping the writer after $(finished) files"
touch "$stop"
status=0
wait "$writer" || status=$?
[ "$status" = 0 ] || fail "the writer failed: $(cat "$RESULTS/writer.log")"

step "sync, unmount, buse disconnect $device"
sync
umount "$mountpoint"
disconnect_daemon "$device" "$pid"
dmesg | grep -iE 'nbd|I/O error|EXT4-fs' | tee "$RESULTS/dmesg-nbd.txt" || true
if grep -qE 'I/O error|EXT4-fs error' "$RESULTS/dmesg-nbd.txt"; then
  fail "the kernel logged I/O or ext4 errors"
fi

check_image "$image" /data "$list"
step "passed"
