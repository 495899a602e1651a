#!/bin/sh
# A volume's service is killed with SIGKILL and started again, as systemd's
# Restart= would: `buse registry serve --volume URI --mount DIR` finds its
# own volume still attached and mounted (the kernel holds the filesystem's
# I/O for a server, as after a `buse connect` daemon dies) and reattaches
# that device, keeping the mount. A write the kernel held while no server
# ran reaches the volume; nothing is mounted twice and no second device is
# attached; SIGTERM then unmounts and detaches as usual. While the service
# runs, a second one for the same volume and mount point is refused, and a
# mount point that is another filesystem's is refused before anything.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

image=/tmp/registry.img
uri="file:$image?size=256M"
mountpoint=/mnt/registry
registry=http://127.0.0.1:5000
log=$RESULTS/registry.log
held=$mountpoint/held-across-restart
modprobe nbd
ip link set lo up

serve() {
  registry_on_volume "$uri" "$mountpoint" "$log" "$@"
}

# push NAME: a 1 MiB blob of random data, pushed monolithically; prints its digest.
push() {
  head -c 1048576 /dev/urandom > "/tmp/$1"
  local digest status
  digest=$(sha256sum < "/tmp/$1" | cut -d' ' -f1)
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@/tmp/$1" "$registry/v2/scenario/app/blobs/uploads/?digest=sha256:$digest")
  [ "$status" = 201 ] || fail "pushing $1 answered $status, not 201"
  echo "$digest"
}

# reads_back DIGEST: the registry serves the blob with these bytes.
reads_back() {
  curl -sf "$registry/v2/scenario/app/blobs/sha256:$1" | sha256sum | grep -q "$1"
}

# How many mounts there are at the mount point.
mounts_here() {
  awk -v m="$mountpoint" '$5 == m' /proc/self/mountinfo | wc -l
}

# The devices nbd reports attached (a size), one per line.
attached_devices() {
  for size in /sys/block/nbd*/size; do
    [ "$(cat "$size")" -gt 0 ] && echo "$size" | cut -d/ -f4
  done
  return 0
}

# list_state DEVICE: the state `buse list` gives the device, and its pid
# ("serving 172"), or nothing when it lists no such device.
list_state() {
  "$BUSE" list | awk -v d="$1" '$1 == d { print $(NF), $3 }' | sed 's/^reattach /waiting for reattach /'
}


step "a mount point that is another filesystem's is refused before anything"
if "$BUSE" registry serve --listen 127.0.0.1:5000 --volume "$uri" --mount /proc > "$RESULTS/on-proc.out" 2>&1; then
  fail "serving with --mount /proc succeeded"
fi
grep -q "already a mount point" "$RESULTS/on-proc.out" || fail "the refusal does not say why: $(cat "$RESULTS/on-proc.out")"
[ ! -e "$image" ] || fail "the refused service made the volume's image"
[ -z "$(attached_devices)" ] || fail "the refused service attached a device: $(attached_devices)"

step "--format: attach, mkfs.ext4, mount, serve; push a blob"
serve --format
first=$pid
device=$(findmnt -n -o SOURCE "$mountpoint")
echo "mounted from $device"
before=$(push before)
[ "$(list_state "$device")" = "serving $first" ] || fail "buse list says \"$(list_state "$device")\", not serving $first"

step "a second service for the same volume and mount point is refused"
if "$BUSE" registry serve --listen 127.0.0.1:5001 --volume "$uri" --mount "$mountpoint" > "$RESULTS/second.out" 2>&1; then
  fail "a second service for the same volume started"
fi
grep -q "served by pid $first:" "$RESULTS/second.out" || fail "the refusal does not name the service (pid $first): $(cat "$RESULTS/second.out")"
reads_back "$before" || fail "the first service stopped serving after the refusal"
[ "$(mounts_here)" = 1 ] || fail "$(mounts_here) mounts at $mountpoint after the refused second service"

step "kill -9 the service (pid $first); the volume stays attached and mounted"
kill -9 "$first"
wait_until 10 "the service to die" pid_gone "$first"
[ "$(findmnt -n -o SOURCE "$mountpoint")" = "$device" ] || fail "$mountpoint is no longer mounted from $device"
[ "$(list_state "$device")" = "waiting for reattach $first" ] ||
  fail "buse list says \"$(list_state "$device")\", not waiting for reattach"

step "a write to the mount while no server runs is held by the kernel"
head -c 300000 /dev/urandom > /tmp/held
dd if=/tmp/held of="$held" bs=64k conv=fsync status=none &
writer=$!
wait_until 60 "the write to block on the dead device" dd_blocked

step "served again: the same device is reattached, the mount kept"
serve
grep -q "volume reattached" "$log" || fail "the log does not say the volume was reattached: $(tail -n 5 "$log")"
wait "$writer" || fail "the held write failed after the reattach"
[ "$(mounts_here)" = 1 ] || fail "$(mounts_here) mounts at $mountpoint: the volume was mounted again over itself"
[ "$(findmnt -n -o SOURCE "$mountpoint")" = "$device" ] || fail "$mountpoint is mounted from another device now"
[ "$(attached_devices)" = "${device#/dev/}" ] || fail "attached devices: $(attached_devices | tr '\n' ' '), not only $device"
reads_back "$before" || fail "the blob pushed before the crash does not read back"
after=$(push after)
[ "$(list_state "$device")" = "serving $pid" ] || fail "buse list says \"$(list_state "$device")\", not serving $pid"

step "SIGTERM: unmount and detach"
kill -TERM "$pid"
wait_until 60 "the registry (pid $pid) to exit" pid_gone "$pid"
[ "$(mounts_here)" = 0 ] || fail "$(mounts_here) mounts left at $mountpoint after SIGTERM"
wait_until 30 "$device to detach" detached "$device"
[ -z "$(list_state "$device")" ] || fail "buse list still shows $device: $(list_state "$device")"

step "served again from scratch: both blobs and the held write are on the volume"
serve
reads_back "$before" || fail "the blob pushed before the crash did not survive"
reads_back "$after" || fail "the blob pushed after the restart did not survive"
cmp -s /tmp/held "$held" || fail "the write held across the restart is not on the volume"
kill -TERM "$pid"
wait_until 60 "the registry (pid $pid) to exit" pid_gone "$pid"
step "passed"
