#!/bin/sh
# `buse connect --read-only` gives the kernel a read-only disk: an existing
# ext4 filesystem mounts with -o ro and reads back, while writes fail (EROFS
# through the filesystem, EPERM on the raw device), and the backing file does
# not change by a single byte.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

image=/tmp/vol.img
uri="file:$image?size=256M"
mountpoint=/mnt/vol
list=$RESULTS/files.sha256

step "making $image: ext4 with 5 files, without nbd (mkfs.ext4 -d)"
write_files /tmp/seed/data 5 512 "$list"
truncate -s 256M "$image"
# 4 KiB blocks: mke2fs would pick 1 KiB for so small a file, which a disk
# with 4 KiB sectors cannot mount.
mkfs.ext4 -q -F -b 4096 -d /tmp/seed "$image"
before=$(sha256sum < "$image")

step "modprobe nbd; buse connect --read-only --daemon $uri"
modprobe nbd
device=$(connect_daemon "$RESULTS/connect.out" --read-only --pid-file /run/buse.pid "$uri")
pid=$(cat /run/buse.pid)
echo "attached $device, daemon pid $pid"
show_kernel_view "$device"
[ "$(blockdev --getro "$device")" = 1 ] || fail "the kernel does not see $device as read-only"
[ "$(cat "/sys/block/${device#/dev/}/ro")" = 1 ] || fail "/sys/block/${device#/dev/}/ro is not 1"

step "mount -o ro; files read back"
mkdir -p "$mountpoint"
mount -o ro "$device" "$mountpoint"
(cd "$mountpoint/data" && sha256sum --quiet -c "$list") || fail "files on $device do not match their checksums"

step "a write through the filesystem fails"
if touch "$mountpoint/data/new" 2> "$RESULTS/touch.err"; then
  fail "touch on the read-only mount succeeded"
fi
cat "$RESULTS/touch.err"
grep -q 'Read-only file system' "$RESULTS/touch.err" || fail "touch failed, but not with EROFS"
umount "$mountpoint"

step "a write to the raw device fails"
if dd if=/dev/zero of="$device" bs=4096 count=1 oflag=direct status=none 2> "$RESULTS/dd.err"; then
  fail "writing $device succeeded"
fi
cat "$RESULTS/dd.err"
grep -qE 'Operation not permitted|Read-only file system' "$RESULTS/dd.err" ||
  fail "writing $device failed, but not with EPERM or EROFS"

step "buse disconnect $device"
disconnect_daemon "$device" "$pid"
[ "$(sha256sum < "$image")" = "$before" ] || fail "$image changed while attached read-only"
step "passed"
