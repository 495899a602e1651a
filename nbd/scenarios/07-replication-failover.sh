#!/bin/sh
# Synchronous replication survives the loss of its primary. Two hosts are two
# network namespaces joined by a veth pair: the initial one ("primary",
# 10.99.0.1) and "peer" (10.99.0.2). The primary attaches /dev/nbd0 through
# netlink (on 6.1 the nbd netlink family is unreachable from any other
# namespace) and replicates to `buse replica` on the peer; ext4 is made and
# filled there, synced, and the primary is killed with SIGKILL. The peer's
# replica is stopped and promoted, and attaches its copy to /dev/nbd1 with the
# ioctls from inside its own namespace, replicating back to the old primary,
# which rejoins as a replica. The filesystem recovers its journal, e2fsck -fn
# finds it clean, every file has its checksum, the old primary catches up, and
# `buse verify` finds the two copies identical.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

primary_image=/tmp/primary/vol.img
primary_state=/tmp/primary/state
peer_image=/tmp/peer/vol.img
peer_state=/tmp/peer/state
mountpoint=/mnt/vol
list=$RESULTS/files.sha256
port=10810          # the peer's replica
rejoin_port=10811   # the old primary, rejoining as a replica

step "network namespace peer, veth 10.99.0.1 <-> 10.99.0.2"
modprobe veth
ip netns add peer
ip link add buse-primary type veth peer name buse-peer
ip link set buse-peer netns peer
ip addr add 10.99.0.1/24 dev buse-primary
ip link set buse-primary up
ip netns exec peer ip link set lo up
ip netns exec peer ip addr add 10.99.0.2/24 dev buse-peer
ip netns exec peer ip link set buse-peer up
mkdir -p /tmp/primary /tmp/peer

step "buse replica in peer on 10.99.0.2:$port"
# `ip netns exec` execs the command (no fork), so $! is buse's own pid.
ip netns exec peer "$BUSE" replica --listen 10.99.0.2:$port --device "file:$peer_image?size=256M" \
  --state "$peer_state" > "$RESULTS/replica.log" 2>&1 &
replica=$!
wait_until 60 "the replica to listen on 10.99.0.2:$port" listening_in peer $port

step "modprobe nbd; buse connect --nbd /dev/nbd0 --replicate-to 10.99.0.2:$port"
modprobe nbd
device=$(connect_daemon "$RESULTS/connect.out" --nbd /dev/nbd0 --dead-connection-timeout 10 \
  --pid-file /run/buse-primary.pid --log-file "$RESULTS/primary.log" \
  "file:$primary_image?size=256M" --replicate-to 10.99.0.2:$port --state "$primary_state")
pid=$(cat /run/buse-primary.pid)
echo "attached $device, daemon pid $pid"
wait_until 300 "the peer to be in sync (full copy of 256 MiB)" in_sync "$primary_state"
"$BUSE" status --state "$primary_state" | tee "$RESULTS/status-primary.txt"

step "mkfs.ext4, mount, 20 files of about 1 MiB, sync"
mkfs.ext4 -q -F "$device"
mkdir -p "$mountpoint"
mount "$device" "$mountpoint"
write_files "$mountpoint/data" 20 1024 "$list"
sync
"$BUSE" status --state "$primary_state" --json > "$RESULTS/status-before-kill.json"
cat "$RESULTS/status-before-kill.json"
[ "$(jq -r .peerState "$RESULTS/status-before-kill.json")" = in-sync ] || fail "the peer fell out of sync while writing"
[ "$(jq -r .writesDegraded "$RESULTS/status-before-kill.json")" = 0 ] || fail "some writes were acknowledged without the peer"
[ "$(jq -r .writesReplicated "$RESULTS/status-before-kill.json")" -gt 0 ] || fail "no write was replicated"

step "kill -9 the primary (pid $pid)"
kill -9 "$pid"
wait_until 10 "the primary to die" pid_gone "$pid"
wait_until 60 "the replica to see its primary gone" peer_gone "$peer_state"
# The old primary's host is gone; here its device must go too. Disconnect
# first, so the kernel fails what it still holds for the dead connection,
# and only then drop the filesystem, in the background: a lazy unmount of
# an ext4 whose journal device died can block in jbd2 for minutes (seen
# once in CI), and nothing here needs to wait for it. The promoted copy
# gets a mount point of its own.
# (/dev/nbd0 stays configured until that filesystem lets go of it; the
# promoted copy uses /dev/nbd1, so nothing waits for that either.)
"$BUSE" disconnect /dev/nbd0 || fail "buse disconnect /dev/nbd0 failed after the primary died"
umount -l "$mountpoint" 2>/dev/null &
mountpoint="$mountpoint-promoted"
mkdir -p "$mountpoint"

step "stop the replica (SIGTERM), buse promote --state $peer_state"
kill -TERM "$replica"
status=0
wait "$replica" || status=$?
[ "$status" = 0 ] || fail "the replica exited with status $status after SIGTERM"
ip netns exec peer "$BUSE" promote --state "$peer_state" | tee "$RESULTS/promote.txt"
[ "$(jq -r .role "$peer_state/state.json")" = primary ] || fail "$peer_state/state.json is not a primary after promote"

step "the old primary rejoins as a replica on 10.99.0.1:$rejoin_port"
"$BUSE" replica --listen 10.99.0.1:$rejoin_port --device "file:$primary_image?size=256M" \
  --state "$primary_state" > "$RESULTS/rejoin.log" 2>&1 &
rejoin=$!
wait_until 60 "the old primary to listen on 10.99.0.1:$rejoin_port" listening $rejoin_port

step "in peer: buse connect --ioctl --nbd /dev/nbd1 (the promoted copy)"
echo "+ ip netns exec peer buse connect --ioctl --nbd /dev/nbd1 --daemon" >> "$RESULTS/connect.log"
ip netns exec peer "$BUSE" connect --ioctl --nbd /dev/nbd1 --daemon --pid-file /run/buse-peer.pid \
  --log-file "$RESULTS/peer.log" "file:$peer_image?size=256M" \
  --replicate-to 10.99.0.1:$rejoin_port --state "$peer_state" > "$RESULTS/connect-peer.out" 2>> "$RESULTS/connect.log" ||
  fail "buse connect in peer failed: $(tail -n 5 "$RESULTS/connect.log")"
device=$(head -n 1 "$RESULTS/connect-peer.out")
[ "$device" = /dev/nbd1 ] || fail "buse connect --nbd /dev/nbd1 printed '$device'"
pid=$(cat /run/buse-peer.pid)
echo "attached $device, daemon pid $pid"
[ "$(blockdev --getsize64 "$device")" = 268435456 ] || fail "$device has $(blockdev --getsize64 "$device") bytes"

# The primary died with the filesystem mounted: its journal must be replayed,
# as on any failover, before e2fsck -n can find it clean.
step "mount and unmount (journal recovery), e2fsck -fn $device"
mount "$device" "$mountpoint"
umount "$mountpoint"
e2fsck -fn "$device" || fail "e2fsck found problems on the promoted copy"

step "mount -o ro; $(wc -l < "$list") files read back"
mount -o ro "$device" "$mountpoint"
(cd "$mountpoint/data" && sha256sum --quiet -c "$list") || fail "files on the promoted copy do not match their checksums"
umount "$mountpoint"

step "the old primary catches up; buse verify"
wait_until 120 "the old primary to be in sync with the new one" in_sync "$peer_state"
"$BUSE" status --state "$peer_state" | tee "$RESULTS/status-promoted.txt"
"$BUSE" verify --state "$peer_state" 2>&1 | tee "$RESULTS/verify.txt"
grep -q ': 0 differing chunk(s)$' "$RESULTS/verify.txt" || fail "buse verify found the two copies different"

step "buse disconnect $device; stop the rejoined replica"
disconnect_daemon "$device" "$pid"
kill -TERM "$rejoin"
status=0
wait "$rejoin" || status=$?
[ "$status" = 0 ] || fail "the rejoined replica exited with status $status after SIGTERM"

# /dev/nbd0 failed I/O once its primary was killed; the promoted copy must not.
dmesg | grep -iE 'nbd|I/O error|EXT4-fs' > "$RESULTS/dmesg-nbd.txt" || true
if grep nbd1 "$RESULTS/dmesg-nbd.txt" | grep -qE 'I/O error|EXT4-fs error'; then
  grep nbd1 "$RESULTS/dmesg-nbd.txt"
  fail "the kernel logged I/O or ext4 errors on the promoted copy"
fi
step "passed"
