#!/bin/sh
# Sealed layers for other hosts. Host A (the initial network namespace,
# 10.99.0.1) imports a seven-layer image through containerd into `buse
# snapshotter serve`, seals the chain with `buse layers seal` (EROFS images
# named by chain ID) and exports it with `buse serve --sealed-layers`.
# Host B (network namespace "peer", 10.99.0.2; same mount namespace, so its
# mounts are visible here) runs `buse layers attach TOP --from
# 10.99.0.1:PORT`: each layer on its own /dev/nbdX straight to host A, each
# mounted as EROFS, stacked with overlayfs. A container started with runc
# from that root runs the image's busybox and prints what the layers hold:
# a file of the top layer, a whiteout and an opaque directory of the
# middle one hide the base's files. `buse layers detach` unmounts and
# detaches; host A's exit summary shows it read a part of the chain only.
# An unknown chain ID and a second attach at the same directory are refused.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

a=/tmp/host-a
b=/tmp/host-b
rootfs=$b/rootfs
port=10809
mkdir -p "$a" "$b"

step "network namespace peer, veth 10.99.0.1 <-> 10.99.0.2"
modprobe veth
ip netns add peer
ip link add buse-a type veth peer name buse-b
ip link set buse-b netns peer
ip addr add 10.99.0.1/24 dev buse-a
ip link set buse-a up
ip netns exec peer ip link set lo up
ip netns exec peer ip addr add 10.99.0.2/24 dev buse-b
ip netns exec peer ip link set buse-b up
# Host B's network only, in this mount namespace (`ip netns exec` would
# give each command a mount namespace of its own, hiding B's mounts).
on_b() { nsenter --net=/run/netns/peer "$@"; }

step "an image of seven layers (umoci, one per insert): busybox; files; a whiteout; an opaque dir; a top file"
layout=$a/oci
umoci init --layout "$layout"
umoci new --image "$layout:img"
mkdir -p "$a/files/old" "$a/files/new"
echo "base file" > "$a/files/gone"
echo "base, hidden by an opaque directory" > "$a/files/old/hidden"
echo "hello from a sealed layer" > "$a/files/message"
echo "kept in the opaque directory" > "$a/files/new/kept"
echo "the top layer" > "$a/files/top"
umoci insert --image "$layout:img" /bin/busybox /bin/busybox
umoci insert --image "$layout:img" "$a/files/gone" /etc/gone
umoci insert --image "$layout:img" "$a/files/old" /data
umoci insert --image "$layout:img" "$a/files/message" /etc/message
umoci insert --image "$layout:img" --whiteout /etc/gone
umoci insert --image "$layout:img" --opaque "$a/files/new" /data
umoci insert --image "$layout:img" "$a/files/top" /etc/top
python3 - "$layout" <<'PY'
import json, sys
path = sys.argv[1] + '/index.json'
index = json.load(open(path))
index['manifests'][0].setdefault('annotations', {})['io.containerd.image.name'] = 'docker.io/library/sealed:latest'
json.dump(index, open(path, 'w'))
PY
tar -C "$layout" -cf "$a/image.tar" .

step "host A: buse snapshotter serve and a private containerd; ctr images import --snapshotter buse"
"$BUSE" snapshotter serve --root "$a/snapshots" --socket "$a/buse.sock" > "$RESULTS/snapshotter.log" 2>&1 &
snapshotter=$!
wait_until 60 "the snapshotter to listen" test -S "$a/buse.sock"
cat > "$a/containerd.toml" <<TOML
version = 2
root = "$a/containerd-root"
state = "$a/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$a/containerd.sock"
[proxy_plugins.buse]
  type = "snapshot"
  address = "$a/buse.sock"
TOML
containerd --config "$a/containerd.toml" > "$RESULTS/containerd.log" 2>&1 &
containerd=$!
wait_until 60 "containerd to listen" test -S "$a/containerd.sock"
ctr -a "$a/containerd.sock" images import --snapshotter buse "$a/image.tar"
ctr -a "$a/containerd.sock" snapshots --snapshotter buse ls | tee "$RESULTS/snapshots.txt"
# The top layer: the committed snapshot that is nobody's parent.
top=$(awk 'NR > 1 && $NF == "Committed" { committed[$1] = 1 } NR > 1 && NF == 3 { parent[$2] = 1 }
  END { for (key in committed) if (!(key in parent)) print key }' "$RESULTS/snapshots.txt")
layers=$(awk 'NR > 1 && $NF == "Committed"' "$RESULTS/snapshots.txt" | wc -l)
echo "top chain ID: $top"
case $top in sha256:*) ;; *) fail "no single top layer in the snapshot list" ;; esac

step "host A: buse layers seal $top (the whole chain), twice: the second changes nothing"
"$BUSE" layers seal "$top" --root "$a/snapshots" | tee "$RESULTS/seal.txt"
[ "$(grep -c '^sealed ' "$RESULTS/seal.txt")" = "$layers" ] || fail "sealing did not make $layers layers"
ls -l --full-time "$a/snapshots/sealed" > "$RESULTS/sealed-before.txt"
"$BUSE" layers seal "$top" --root "$a/snapshots" | tee "$RESULTS/reseal.txt"
[ "$(grep -c '^already sealed ' "$RESULTS/reseal.txt")" = "$layers" ] || fail "sealing again did not find $layers sealed layers"
ls -l --full-time "$a/snapshots/sealed" > "$RESULTS/sealed-after.txt"
cmp "$RESULTS/sealed-before.txt" "$RESULTS/sealed-after.txt" || fail "sealing again changed the sealed files"
"$BUSE" layers list --root "$a/snapshots" | tee "$RESULTS/list.txt"

step "host A: the snapshotter and containerd are no longer needed"
kill -TERM "$containerd" "$snapshotter"
wait_until 60 "containerd to exit" pid_gone "$containerd"
wait_until 60 "the snapshotter to exit" pid_gone "$snapshotter"

step "host A: buse serve --sealed-layers on 10.99.0.1:$port"
"$BUSE" serve --sealed-layers "$a/snapshots" --listen 10.99.0.1:$port > "$RESULTS/serve.log" 2>&1 &
server=$!
wait_until 60 "buse serve to listen" listening $port
on_b nbdinfo "nbd://10.99.0.1:$port/$top" | tee "$RESULTS/nbdinfo-top.txt"
grep -q "description: buse sealed layer, erofs, parent=sha256:" "$RESULTS/nbdinfo-top.txt" ||
  fail "the top layer's export does not name its parent"
grep -q "is_read_only: true" "$RESULTS/nbdinfo-top.txt" || fail "the top layer's export is not read-only"

step "host B: a chain ID the server does not export is refused, and nothing stays attached"
modprobe nbd
modprobe erofs
unknown=sha256:$(printf '%064d' 0)
if on_b "$BUSE" layers attach "$unknown" --from 10.99.0.1:$port --mount "$rootfs" > "$RESULTS/unknown.out" 2>&1; then
  fail "attaching an unknown chain ID succeeded"
fi
cat "$RESULTS/unknown.out"
grep -q "no such export" "$RESULTS/unknown.out" || fail "the refusal does not say the export is unknown"
mountpoint -q "$rootfs" && fail "$rootfs is mounted after a refused attach"
for device in /sys/block/nbd*; do
  [ "$(cat "$device/size")" = 0 ] || fail "$(basename "$device") is attached after a refused attach"
done

step "host B: buse layers attach $top --from 10.99.0.1:$port --mount $rootfs"
on_b "$BUSE" layers attach "$top" --from 10.99.0.1:$port --mount "$rootfs" --daemon \
  --log-file "$RESULTS/attach.log" | tee "$RESULTS/attach.out"
findmnt -R "$rootfs" | tee "$RESULTS/findmnt.txt"
grep -q overlay "$RESULTS/findmnt.txt" || fail "$rootfs is not an overlay mount"
[ "$(grep -c erofs /proc/mounts)" = "$layers" ] || fail "$layers erofs layers are not mounted"
for device in /sys/block/nbd*; do
  [ "$(cat "$device/size")" -gt 0 ] && echo "$(basename "$device"): $(cat "$device/size") sectors, ro $(cat "$device/ro")"
done | tee "$RESULTS/devices.txt"
[ "$(wc -l < "$RESULTS/devices.txt")" = "$layers" ] || fail "$layers nbd devices are not attached"
grep -q "ro 0" "$RESULTS/devices.txt" && fail "a layer's device is writable"

if on_b "$BUSE" layers attach "$top" --from 10.99.0.1:$port --mount "$rootfs" > "$RESULTS/again.out" 2>&1; then
  fail "a second attach at $rootfs succeeded"
fi
grep -q "already has layers attached" "$RESULTS/again.out" || fail "the second attach was not refused as such: $(cat "$RESULTS/again.out")"

step "host B: a container (runc) from the stacked layers"
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
bundle=$b/bundle
mkdir -p "$bundle"
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" "$rootfs" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
config = json.load(open(path))
config['root'] = {'path': rootfs, 'readonly': False}
config['process']['terminal'] = False
config['process']['args'] = ['/bin/busybox', 'sh', '-c',
    'cat /etc/message /etc/top; ls /data; test -e /etc/gone && echo GONE-IS-THERE; '
    'echo written > /written; cat /written']
json.dump(config, open(path, 'w'))
PY
on_b runc --root "$b/runc" run --bundle "$bundle" sealed-c1 > "$RESULTS/container.out" 2>&1 ||
  fail "runc run failed: $(cat "$RESULTS/container.out")"
cat "$RESULTS/container.out"
grep -q "hello from a sealed layer" "$RESULTS/container.out" || fail "the container did not print the middle layer's file"
grep -q "the top layer" "$RESULTS/container.out" || fail "the container did not print the top layer's file"
grep -q "^kept$" "$RESULTS/container.out" || fail "the opaque directory's own file is missing"
grep -q "hidden" "$RESULTS/container.out" && fail "the opaque directory shows the base layer's file"
grep -q "GONE-IS-THERE" "$RESULTS/container.out" && fail "a whited-out file is visible"
grep -q "^written$" "$RESULTS/container.out" || fail "the container could not write to its root"
[ -e "$rootfs/written" ] || fail "the container's write is not in the overlay"

step "host B: buse layers detach $rootfs"
attach_pid=$(awk '$1 == "pid" { print $2 }' /run/buse/layers/*/stack)
on_b "$BUSE" layers detach "$rootfs" | tee "$RESULTS/detach.out"
wait_until 60 "the attach (pid $attach_pid) to exit" pid_gone "$attach_pid"
grep -q erofs /proc/mounts && fail "an erofs layer is still mounted"
mountpoint -q "$rootfs" && fail "$rootfs is still mounted"
for device in /sys/block/nbd*; do
  [ "$(cat "$device/size")" = 0 ] || fail "$(basename "$device") is still attached"
done

step "host A: stop buse serve; what each layer's export served"
kill -TERM "$server"
wait_until 60 "buse serve to exit" pid_gone "$server"
grep "served" "$RESULTS/serve.log" | tee "$RESULTS/served.txt"
[ "$(grep -c "export sha256:" "$RESULTS/served.txt")" = "$layers" ] || fail "buse serve did not report $layers layer exports"
step "passed"
