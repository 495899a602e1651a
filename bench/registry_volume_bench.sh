#!/bin/bash
# The registry's root on a buse volume against a plain directory: skopeo push
# and pull of the registry bench's 1 GiB image (8 layers of 128 MiB), the
# root either a directory on this disk or ext4 on a buse export of a file on
# the same disk, reached as a block device through nbdfuse and a loop device
# (the path a host without the nbd module has). --sync grouped in both. Prints
# push and pull seconds per run, and buse's exit summary (its FLUSH count)
# for each volume run. Root, nbdfuse and a loop device needed.
#
#   bench/registry_volume_bench.sh BUSE-BINARY IMAGE-LAYOUT [REPS]
#   (IMAGE-LAYOUT: results/registry-bench/image, made by bench/registry_bench.py)
set -euo pipefail
B=$1 IMG=$2 REPS=${3:-3}
W=$(mktemp -d /var/tmp/buse-volume-bench.XXXXXX)
trap 'umount $W/mnt 2>/dev/null || true; [ -n "${L:-}" ] && losetup -d $L 2>/dev/null; fusermount3 -u $W/fuse.raw 2>/dev/null || true; pkill -P $$ || true; rm -rf $W' EXIT
REG=127.0.0.1:5077 NBD=127.0.0.1:10877

timed_push_pull() { # root label
  "$B" registry serve --root "$1" --listen $REG --sync grouped > "$W/registry-$2.log" 2>&1 &
  local registry=$!
  for _ in $(seq 300); do curl -sf http://$REG/v2/ > /dev/null && break; sleep 0.1; done
  local t0 t1 t2
  t0=$(date +%s.%N); skopeo copy --quiet --dest-tls-verify=false "oci:$IMG:bench" docker://$REG/bench/img:v1; t1=$(date +%s.%N)
  rm -rf "$W/pulled"; skopeo copy --quiet --src-tls-verify=false docker://$REG/bench/img:v1 "oci:$W/pulled:bench"; t2=$(date +%s.%N)
  kill $registry; wait $registry || true
  echo "$2 push $(echo "$t1 - $t0" | bc) s pull $(echo "$t2 - $t1" | bc) s"
}

for _ in $(seq "$REPS"); do
  rm -rf "$W/plain"; mkdir -p "$W/plain"; timed_push_pull "$W/plain" plain
  rm -f "$W/vol.img"; truncate -s 4G "$W/vol.img"
  "$B" serve --export "reg=file:$W/vol.img" --listen $NBD > "$W/buse.log" 2>&1 &
  server=$!
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/10877) 2>/dev/null && break; sleep 0.1; done
  touch "$W/fuse.raw"; nbdfuse "$W/fuse.raw" nbd://$NBD/reg & fuse=$!
  for _ in $(seq 300); do [ -s "$W/fuse.raw" ] && break; sleep 0.1; done
  L=$(losetup -f --show "$W/fuse.raw"); mkfs.ext4 -q "$L"; mkdir -p "$W/mnt"; mount "$L" "$W/mnt"; mkdir -p "$W/mnt/registry"
  timed_push_pull "$W/mnt/registry" volume
  umount "$W/mnt"; losetup -d "$L"; L=; fusermount3 -u "$W/fuse.raw"; wait $fuse || true
  kill $server; wait $server || true
  grep "export reg served" "$W/buse.log" | sed 's/.*served/  buse served/'
done
