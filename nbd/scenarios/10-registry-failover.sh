#!/bin/sh
# A registry on a synchronously replicated volume loses its host mid-push,
# and the peer takes over with every acknowledged push intact. Two hosts are
# two network namespaces joined by a veth pair, as in 07: the initial one
# ("primary", 10.99.0.1) runs `buse registry serve --volume ... --format
# --replicate-to 10.99.0.2:PORT`, which attaches /dev/nbd0, makes ext4 and
# serves on 127.0.0.1:5000; "peer" (10.99.0.2) runs `buse replica`.
# skopeo pushes OCI images (a shared base layer and a layer of their own)
# one after another while an upload session is left half done; the primary
# is killed with SIGKILL while a push is under way. The peer is promoted and
# serves the registry from its copy (attached with the ioctls, inside its
# namespace). Every push skopeo finished (its last step is the manifest
# PUT's 201) pulls with the manifest digest it was pushed with and every
# blob verified by skopeo; the half-done session either resumes from the
# offset the promoted registry reports and completes, or is cleanly
# unknown; `buse registry fsck` finds the root clean.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

port=10810
primary_image=/tmp/primary/vol.img
primary_state=/tmp/primary/state
peer_image=/tmp/peer/vol.img
peer_state=/tmp/peer/state
size=256M
images=/tmp/images
pushed=$RESULTS/pushed.txt
export TMPDIR=/tmp

# make_image N: an OCI layout at $images/N (tag latest) of two uncompressed
# layers: the base every image shares, and 3 MiB of its own; prints nothing.
make_image() {
  local n="$1" dir="$images/$1" work="/tmp/layer-$1" base own config manifest
  mkdir -p "$dir/blobs/sha256" "$work"
  cp "$images/base.tar" "$dir/blobs/sha256/$(sha256sum < "$images/base.tar" | cut -d' ' -f1)"
  base=$(sha256sum < "$images/base.tar" | cut -d' ' -f1)
  head -c $((3 * 1048576 + n * 4099)) /dev/urandom > "$work/data-$n"
  tar -C "$work" -cf "$work.tar" "data-$n"
  own=$(sha256sum < "$work.tar" | cut -d' ' -f1)
  mv "$work.tar" "$dir/blobs/sha256/$own"
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/data-%s"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
    "$n" "$base" "$own" > "$work.config"
  config=$(sha256sum < "$work.config" | cut -d' ' -f1)
  mv "$work.config" "$dir/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$(stat -c %s "$dir/blobs/sha256/$config")" "$base" "$(stat -c %s "$images/base.tar")" \
    "$own" "$(stat -c %s "$dir/blobs/sha256/$own")" > "$work.manifest"
  manifest=$(sha256sum < "$work.manifest" | cut -d' ' -f1)
  mv "$work.manifest" "$dir/blobs/sha256/$manifest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$manifest" "$(stat -c %s "$dir/blobs/sha256/$manifest")" > "$dir/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
  rm -rf "$work"
}

step "network namespace peer, veth 10.99.0.1 <-> 10.99.0.2"
modprobe veth
modprobe nbd
ip link set lo up
ip netns add peer
ip link add buse-primary type veth peer name buse-peer
ip link set buse-peer netns peer
ip addr add 10.99.0.1/24 dev buse-primary
ip link set buse-primary up
ip netns exec peer ip link set lo up
ip netns exec peer ip addr add 10.99.0.2/24 dev buse-peer
ip netns exec peer ip link set buse-peer up
mkdir -p /tmp/primary /tmp/peer "$images"

step "8 OCI images: a shared 2 MiB base layer and 3 MiB of their own each"
mkdir -p /tmp/base
head -c 2097152 /dev/urandom > /tmp/base/base.bin
tar -C /tmp/base -cf "$images/base.tar" base.bin
n=1
while [ $n -le 8 ]; do make_image $n; n=$((n + 1)); done

step "buse replica in peer on 10.99.0.2:$port"
ip netns exec peer "$BUSE" replica --listen 10.99.0.2:$port --device "file:$peer_image?size=$size" \
  --state "$peer_state" > "$RESULTS/replica.log" 2>&1 &
replica=$!
wait_until 60 "the replica to listen on 10.99.0.2:$port" listening_in peer $port

step "buse registry serve --volume --format --replicate-to 10.99.0.2:$port"
"$BUSE" registry serve --listen 127.0.0.1:5000 --volume "file:$primary_image?size=$size" --mount /mnt/registry \
  --format --replicate-to 10.99.0.2:$port --state "$primary_state" > "$RESULTS/primary.log" 2>&1 &
primary=$!
wait_until 120 "the registry to answer on 127.0.0.1:5000" curl -sf http://127.0.0.1:5000/v2/
wait_until 300 "the peer to be in sync (full copy of $size)" in_sync "$primary_state"

step "an upload session left half done: POST, then a PATCH of the first 3 MiB of 6"
head -c 6291456 /dev/urandom > /tmp/session.bin
session_digest=$(sha256sum < /tmp/session.bin | cut -d' ' -f1)
location=$(curl -sf -X POST -D - -o /dev/null http://127.0.0.1:5000/v2/app/session/blobs/uploads/ |
  tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
[ -n "$location" ] || fail "POST answered no Location"
case $location in http*) path=${location#http://127.0.0.1:5000} ;; *) path=$location ;; esac
head -c 3145728 /tmp/session.bin > /tmp/session.first
status=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/octet-stream' \
  -H 'Content-Range: 0-3145727' --data-binary @/tmp/session.first "http://127.0.0.1:5000$path")
[ "$status" = 202 ] || fail "the first PATCH answered $status, not 202"
echo "session at $path"

step "skopeo pushes the images one after another (in the background)"
: > "$pushed"
(
  n=1
  while [ $n -le 8 ]; do
    skopeo copy --quiet --dest-tls-verify=false --digestfile "$images/$n/pushed-digest" "oci:$images/$n:latest" \
      "docker://127.0.0.1:5000/app/image-$n:latest" > "$RESULTS/push-$n.log" 2>&1 || exit 0
    echo "$n" >> "$pushed"
    n=$((n + 1))
  done
) &
pusher=$!

pushes_done() { [ "$(wc -l < "$pushed")" -ge "$1" ]; }
# A push is under way once its first blob upload session exists on the root.
uploading() { [ -n "$(find /mnt/registry/docker/registry/v2/repositories/app/image-"$1"/_uploads -mindepth 1 -maxdepth 1 2> /dev/null)" ]; }
wait_until 600 "three pushes to finish" pushes_done 3
next=$(($(wc -l < "$pushed") + 1))
wait_until 120 "push $next to be under way" uploading "$next"

step "kill -9 the primary (pid $primary) while push $next is under way"
kill -9 "$primary"
wait_until 10 "the primary to die" pid_gone "$primary"
# Its host is gone with it: the link to the peer goes silent and the pusher,
# a client on that host, ends. Here only the process dies and the kernel
# lives on. Should one of the primary's threads be waiting in the kernel on
# the filesystem it serves itself (an fsync while the device's socket is
# full), that thread cannot finish, so the process never finishes dying and
# its sockets stay open: skopeo would wait for its answer for ever, and the
# peer's keepalives would still be answered (seen once in CI: a zombie
# primary, its fsync thread in jbd2_log_wait_commit). A host that dies takes
# its sockets along; cutting the veth and ending the pusher does the same.
step "the primary's host is gone: its link goes silent, its pusher ends"
ip link set buse-primary down
pusher_running() { kill -0 "$pusher" 2> /dev/null; }
tries=150
while pusher_running && [ "$tries" -gt 0 ]; do
  sleep 0.2
  tries=$((tries - 1))
done
if pusher_running; then
  echo "the pusher still waits on the dead registry's open socket: ending it"
  pkill -P "$pusher" skopeo || true
  kill "$pusher" 2> /dev/null || true
fi
wait "$pusher" || true
echo "pushes finished before the kill: $(tr '\n' ' ' < "$pushed")"
[ "$(wc -l < "$pushed")" -ge 3 ] || fail "fewer than 3 pushes finished"
wait_until 60 "the replica to see its primary gone" peer_gone "$peer_state"
# The dead primary's /dev/nbd0 and its mount are left as they are: that
# host is gone. This host (the clients' now) reaches the peer again.
ip link set buse-primary up
link_up() { ip -o link show buse-primary | grep -q "state UP"; }
wait_until 30 "the link to the peer to be up again" link_up

step "stop the replica (SIGTERM), buse promote --state $peer_state"
kill -TERM "$replica"
status=0
wait "$replica" || status=$?
[ "$status" = 0 ] || fail "the replica exited with status $status after SIGTERM"
ip netns exec peer "$BUSE" promote --state "$peer_state" | tee "$RESULTS/promote.txt"

step "in peer: buse registry serve --volume (its copy) --ioctl on 10.99.0.2:5000"
ip netns exec peer "$BUSE" registry serve --listen 10.99.0.2:5000 --volume "file:$peer_image?size=$size" \
  --mount /mnt/registry-promoted --ioctl --state "$peer_state" > "$RESULTS/promoted.log" 2>&1 &
promoted=$!
wait_until 120 "the promoted registry to answer on 10.99.0.2:5000" curl -sf http://10.99.0.2:5000/v2/

step "every finished push pulls with its digest, every blob verified by skopeo"
for n in $(cat "$pushed"); do
  digest=$(skopeo inspect --raw --tls-verify=false "docker://10.99.0.2:5000/app/image-$n:latest" | sha256sum | cut -d' ' -f1)
  [ "sha256:$digest" = "$(cat "$images/$n/pushed-digest")" ] || fail "image-$n's manifest digest is $digest after failover"
  skopeo copy --quiet --src-tls-verify=false "docker://10.99.0.2:5000/app/image-$n:latest" "oci:/tmp/pulled-$n:latest" ||
    fail "image-$n does not pull from the promoted registry"
done
echo "$(wc -l < "$pushed") image(s) pulled intact"

step "the interrupted push $next: complete, or cleanly unknown"
answer=$(curl -s -o /dev/null -w '%{http_code}' "http://10.99.0.2:5000/v2/app/image-$next/manifests/latest")
case $answer in
  200) echo "push $next had committed its manifest before the kill" ;;
  404) echo "push $next is unknown: its manifest never got a 201" ;;
  *) fail "the interrupted image answered $answer" ;;
esac

step "the half-done session resumes from the offset the promoted registry reports"
headers=$(curl -s -D - -o /dev/null "http://10.99.0.2:5000$path" | tr -d '\r')
code=$(echo "$headers" | head -n 1 | cut -d' ' -f2)
echo "$headers" | head -n 5
case $code in
  204)
    end=$(echo "$headers" | sed -n 's/^[Rr]ange: 0-\([0-9]*\)$/\1/p')
    [ -n "$end" ] || fail "the session's GET answered 204 without a Range"
    offset=$((end + 1))
    [ "$offset" -le 3145728 ] || fail "the session reports $offset bytes, more than were sent"
    tail -c +$((offset + 1)) /tmp/session.bin > /tmp/session.rest
    status=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/octet-stream' \
      -H "Content-Range: $offset-6291455" --data-binary @/tmp/session.rest "http://10.99.0.2:5000$path")
    [ "$status" = 202 ] || fail "resuming at $offset answered $status"
    status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://10.99.0.2:5000$path?digest=sha256:$session_digest")
    [ "$status" = 201 ] || fail "finishing the resumed session answered $status"
    curl -sf "http://10.99.0.2:5000/v2/app/session/blobs/sha256:$session_digest" | sha256sum | grep -q "$session_digest" ||
      fail "the resumed blob does not read back"
    echo "resumed at $offset of 3145728 sent, completed, reads back"
    ;;
  404) echo "the session is unknown after failover (BLOB_UPLOAD_UNKNOWN)" ;;
  *) fail "GET on the session answered $code" ;;
esac

# `ip netns exec` gives the promoted registry a mount namespace of its own:
# its filesystem is seen from inside that namespace.
step "buse registry fsck: clean"
# (-r: the scenario runs chrooted, so also take the registry's root directory.)
nsenter -t "$promoted" -m -r "$BUSE" registry fsck --root /mnt/registry-promoted > "$RESULTS/fsck.txt" 2>&1 ||
  fail "fsck found damage after failover: $(cat "$RESULTS/fsck.txt")"
cat "$RESULTS/fsck.txt"
grep -q ': clean$' "$RESULTS/fsck.txt" || fail "fsck did not say clean"

step "stop the promoted registry (SIGTERM): unmount, detach"
kill -TERM "$promoted"
wait_until 60 "the promoted registry to exit" pid_gone "$promoted"
grep "volume detached; served" "$RESULTS/promoted.log" | tail -n 1 | grep . ||
  fail "the promoted registry did not log that it unmounted and detached its volume"
step "passed"
