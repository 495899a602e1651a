#!/bin/sh
# `buse registry serve --volume URI --mount DIR --format`: the registry's
# root on ext4 made on a buse volume attached as /dev/nbdX by the same
# process. A blank device is refused without --format; with it, a blob and
# a manifest pushed with curl read back; SIGTERM unmounts and detaches, and
# the volume's log line shows the filesystem's syncs arrived as FLUSHes.
# Served again without --format, the image is still there; --format on a
# device that now holds ext4 is refused and changes nothing.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

image=/tmp/registry.img
uri="file:$image?size=512M"
mountpoint=/mnt/registry
registry=http://127.0.0.1:5000
log=$RESULTS/registry.log
modprobe nbd
ip link set lo up

serve() {
  registry_on_volume "$uri" "$mountpoint" "$log" "$@"
}

stop() {
  kill -TERM "$pid"
  wait_until 60 "the registry (pid $pid) to exit" pid_gone "$pid"
  mountpoint -q "$mountpoint" && fail "$mountpoint is still mounted after SIGTERM"
  return 0
}

step "a blank volume without --format is refused"
if "$BUSE" registry serve --listen 127.0.0.1:5000 --volume "$uri" --mount "$mountpoint" > "$RESULTS/refused.out" 2>&1; then
  fail "serving a blank volume without --format succeeded"
fi
grep -q -- "--format" "$RESULTS/refused.out" || fail "the refusal does not say to add --format: $(cat "$RESULTS/refused.out")"

step "--format: attach, mkfs.ext4, mount, serve"
serve --format
findmnt "$mountpoint" | tee "$RESULTS/findmnt.txt"
grep -q ext4 "$RESULTS/findmnt.txt" || fail "$mountpoint is not an ext4 mount"

step "push a 3 MiB blob (monolithic) and a manifest"
head -c 3145728 /dev/urandom > /tmp/layer
layer=$(sha256sum < /tmp/layer | cut -d' ' -f1)
printf '{}' > /tmp/config
config=$(sha256sum < /tmp/config | cut -d' ' -f1)
for blob in layer config; do
  digest=$(eval echo "\$$blob")
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@/tmp/$blob" "$registry/v2/scenario/app/blobs/uploads/?digest=sha256:$digest")
  [ "$status" = 201 ] || fail "pushing the $blob answered $status, not 201"
done
cat > /tmp/manifest <<MANIFEST
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$layer","size":3145728}]}
MANIFEST
status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary @/tmp/manifest "$registry/v2/scenario/app/manifests/v1")
[ "$status" = 201 ] || fail "pushing the manifest answered $status, not 201"
curl -sf "$registry/v2/scenario/app/blobs/sha256:$layer" | sha256sum | grep -q "$layer" || fail "the blob does not read back"

step "SIGTERM: stop serving, unmount, detach; the syncs reached the volume as FLUSHes"
stop
line=$(grep "volume detached; served" "$log" | tail -n 1)
echo "$line"
flushes=$(echo "$line" | sed -n 's/.*flushes=\([0-9]*\).*/\1/p')
[ "${flushes:-0}" -gt 0 ] || fail "no FLUSH reached the volume: $line"

step "served again without --format: the image is there"
serve
curl -sf "$registry/v2/scenario/app/manifests/v1" -H 'Accept: application/vnd.oci.image.manifest.v1+json' |
  cmp -s - /tmp/manifest || fail "the manifest did not survive"
curl -sf "$registry/v2/scenario/app/blobs/sha256:$layer" | sha256sum | grep -q "$layer" || fail "the blob did not survive"
stop

step "--format on a volume that holds ext4 is refused and changes nothing"
before=$(sha256sum < "$image")
if "$BUSE" registry serve --listen 127.0.0.1:5000 --volume "$uri" --mount "$mountpoint" --format > "$RESULTS/reformat.out" 2>&1; then
  fail "--format on a volume holding ext4 succeeded"
fi
grep -q "not blank" "$RESULTS/reformat.out" || fail "the refusal does not say the volume is not blank: $(cat "$RESULTS/reformat.out")"
[ "$(sha256sum < "$image")" = "$before" ] || fail "the refused --format changed the volume"
step "passed"
