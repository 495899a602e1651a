#!/bin/sh
# Attach a file-backed volume to the kernel, make a filesystem, mount it,
# write a file, then take it all down again. Run as root on a machine with
# the nbd module (`modprobe nbd`).
#
#   examples/attach-and-mount.sh [IMAGE] [MOUNTPOINT]
set -eu
buse=${BUSE:-buse}
image=${1:-/var/lib/buse/example.img}
mountpoint=${2:-/mnt/buse-example}

modprobe nbd
mkdir -p "$(dirname "$image")" "$mountpoint"

# --daemon returns once the device is ready and prints its path.
device=$($buse connect --daemon --pid-file /run/buse-example.pid "file:$image?size=1G")
echo "attached $image as $device"

mkfs.ext4 -q "$device"
mount "$device" "$mountpoint"
echo "hello from buse" > "$mountpoint/hello.txt"
sync
$buse list

umount "$mountpoint"
$buse disconnect "$device"
echo "detached; the filesystem is in $image (try: e2fsck -fn $image)"
