# Helpers for the scenarios in nbd/scenarios/; each sources this file first.
# They run inside the VM as root (nbd/vm.sh), with $BUSE the buse binary and
# $RESULTS a folder kept on the host, where logs and lists go.

: "${BUSE:?BUSE must name the buse binary (nbd/run-scenarios.sh passes it)}"
: "${RESULTS:?RESULTS must name a folder for logs (nbd/vm.sh sets it)}"

# Prints a step with the guest's uptime, so slow steps show in the log.
step() {
  echo "== $(cut -d' ' -f1 /proc/uptime)s $*"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; fails the scenario after SECONDS.
wait_until() {
  local seconds="$1" what="$2" tries
  shift 2
  tries=$((seconds * 5))
  until "$@" > /dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || fail "waited ${seconds}s for $what"
    sleep 0.2
  done
}

# True when no process has this pid (a zombie counts as gone: it waits for
# init to reap it).
pid_gone() {
  [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2> /dev/null
}

# True when something listens on this TCP port.
listening() {
  [ -n "$(ss -Hltn "sport = :$1")" ]
}

# True when the nbd device has a size, i.e. is attached.
attached() {
  [ "$(cat "/sys/block/${1#/dev/}/size")" -gt 0 ]
}

detached() {
  [ "$(cat "/sys/block/${1#/dev/}/size")" = 0 ]
}

# write_files DIRECTORY COUNT KIB LIST: writes COUNT files of random data of
# about KIB KiB each (odd sizes, so tails are not block-aligned) and appends
# their sha256 to LIST, named relative to DIRECTORY.
write_files() {
  local directory="$1" count="$2" kib="$3" list="$4" i=1
  mkdir -p "$directory"
  while [ "$i" -le "$count" ]; do
    head -c $((kib * 1024 + i * 517)) /dev/urandom > "$directory/file-$i"
    (cd "$directory" && sha256sum "file-$i") >> "$list"
    i=$((i + 1))
  done
}

# make_fill_trim DEVICE MOUNTPOINT LIST: makes ext4 on DEVICE, mounts it,
# writes 19 files of about 1 MiB into MOUNTPOINT/data (their checksums in
# LIST, relative to that folder), deletes a 20th so fstrim has freed blocks
# to discard, then fstrim, sync and unmount: the kernel sends writes,
# flushes and trims.
make_fill_trim() {
  local device="$1" mountpoint="$2" list="$3"
  step "mkfs.ext4 and mount"
  mkfs.ext4 -q -F "$device"
  mkdir -p "$mountpoint"
  mount "$device" "$mountpoint"
  step "writing 20 files of about 1 MiB"
  write_files "$mountpoint/data" 20 1024 "$list"
  rm "$mountpoint/data/file-20"
  sed -i '/ file-20$/d' "$list"
  step "fstrim, sync, unmount"
  fstrim -v "$mountpoint"
  sync
  umount "$mountpoint"
}

# check_image IMAGE DIRECTORY LIST: the ext4 filesystem in the backing file
# IMAGE is clean, and every file in LIST (relative to DIRECTORY, a path inside
# that filesystem) reads back with its checksum. Reads the image with debugfs,
# so no loop device or mount is involved.
check_image() {
  local image="$1" directory="$2" list="$3" dump
  step "e2fsck -fn $image"
  e2fsck -fn "$image" || fail "e2fsck found problems in $image"
  step "checking $(wc -l < "$list") files in $image with debugfs"
  dump=$(mktemp -d)
  debugfs -R "rdump $directory $dump" "$image" 2>&1 | grep -v '^debugfs [0-9]' || true
  (cd "$dump/$(basename "$directory")" && sha256sum --quiet -c "$list") ||
    fail "files in $image do not match their checksums"
  rm -rf "$dump"
}

# show_kernel_view DEVICE: prints what the kernel made of the attached export.
show_kernel_view() {
  local name="${1#/dev/}" queue
  queue=/sys/block/${1#/dev/}/queue
  echo "$1: size $(blockdev --getsize64 "$1") bytes, logical block $(blockdev --getss "$1")," \
    "soft block $(blockdev --getbsz "$1"), read-only $(blockdev --getro "$1")"
  echo "$1: write_cache '$(cat "$queue/write_cache")', fua $(cat "$queue/fua")," \
    "discard_max_bytes $(cat "$queue/discard_max_bytes"), write_zeroes_max_bytes $(cat "$queue/write_zeroes_max_bytes")," \
    "connections (hardware queues) $(ls "/sys/block/$name/mq" | wc -l)," \
    "pid $(cat "/sys/block/$name/pid" 2> /dev/null || echo none)," \
    "backend '$(cat "/sys/block/$name/backend" 2> /dev/null || echo none)'"
  if [ -r "/sys/kernel/debug/nbd/$name/flags" ]; then
    echo "$1: debugfs flags: $(tr '\n' ' ' < "/sys/kernel/debug/nbd/$name/flags")"
  fi
}

# check_kernel_view DEVICE SIZE: the device has SIZE bytes, and the kernel took
# the export's SEND_FLUSH (a write-back cache it must flush) and SEND_TRIM
# (discard) flags.
check_kernel_view() {
  local queue="/sys/block/${1#/dev/}/queue"
  show_kernel_view "$1"
  [ "$(blockdev --getsize64 "$1")" = "$2" ] || fail "$1 has $(blockdev --getsize64 "$1") bytes, not $2"
  [ "$(cat "$queue/write_cache")" = "write back" ] || fail "$1 has no write-back cache: SEND_FLUSH missing?"
  [ "$(cat "$queue/discard_max_bytes")" -gt 0 ] || fail "$1 takes no discards: SEND_TRIM missing?"
}

# connect_daemon OUTPUT ARGUMENTS...: runs `buse connect --daemon ARGUMENTS`,
# its stdout to OUTPUT and its stderr to $RESULTS/connect.log (never to a pipe
# a daemon could hold open), and prints the device path it reported.
connect_daemon() {
  local output="$1" device
  shift
  echo "+ buse connect --daemon $*" >> "$RESULTS/connect.log"
  "$BUSE" connect --daemon "$@" > "$output" 2>> "$RESULTS/connect.log" ||
    fail "buse connect --daemon $* failed: $(tail -n 5 "$RESULTS/connect.log")"
  device=$(head -n 1 "$output")
  case $device in
    /dev/nbd[0-9]*) echo "$device" ;;
    *) fail "buse connect printed '$device' as its first line, not /dev/nbdN" ;;
  esac
}

# disconnect_daemon DEVICE PID: `buse disconnect DEVICE`, then waits until
# the kernel has detached DEVICE and the daemon PID that served it has exited.
disconnect_daemon() {
  "$BUSE" disconnect "$1"
  wait_until 30 "$1 to be detached" detached "$1"
  wait_until 60 "the daemon (pid $2) to exit" pid_gone "$2"
}

# check_served DEVICE: after the daemon serving DEVICE has detached, its log
# line "detached; served ... flushes=N trims=M ..." must show that the kernel
# sent flushes (SEND_FLUSH reached it: without it fsync would be a no-op) and
# discards (SEND_TRIM). The daemon logs to /run/buse/connect.log.
check_served() {
  local line flushes trims
  line=$(grep "detached; served" /run/buse/connect.log | grep "device=$1" | tail -n 1)
  [ -n "$line" ] || fail "no 'detached; served' line for $1 in /run/buse/connect.log"
  echo "$line"
  flushes=$(echo "$line" | sed -n 's/.*flushes=\([0-9]*\).*/\1/p')
  trims=$(echo "$line" | sed -n 's/.* trims=\([0-9]*\).*/\1/p')
  [ "${flushes:-0}" -gt 0 ] || fail "the kernel sent no FLUSH to buse for $1"
  [ "${trims:-0}" -gt 0 ] || fail "the kernel sent no TRIM to buse for $1"
}

# listening_in NETNS PORT: true when something listens on this TCP port in
# the network namespace NETNS.
listening_in() {
  [ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2")" ]
}

# replication_field STATE FIELD: prints FIELD of `buse status --json` from the
# buse process (connect, serve or replica) whose state folder is STATE.
replication_field() {
  "$BUSE" status --state "$1" --json | jq -r ".$2"
}

# in_sync STATE: the primary whose state folder is STATE has its peer in sync
# (its resync finished; every write now reaches both copies).
in_sync() {
  [ "$(replication_field "$1" peerState)" = in-sync ]
}

# peer_gone STATE: the node whose state folder is STATE has no peer connected.
peer_gone() {
  [ "$(replication_field "$1" peerState)" = disconnected ]
}

# True when a dd waits in the kernel (state D): its write or fsync is held
# for a device whose server died (the dead-connection timeout).
dd_blocked() {
  local process
  for process in $(pgrep -x dd); do
    grep -q '^State:[[:space:]]*D' "/proc/$process/status" && return 0
  done
  return 1
}

# registry_on_volume URI MOUNTPOINT LOG [OPTION...]: starts `buse registry
# serve` on 127.0.0.1:5000 with its root on the volume URI mounted at
# MOUNTPOINT, appending its output to LOG; sets $pid and returns once the
# registry answers.
registry_on_volume() {
  local uri="$1" mountpoint="$2" log="$3"
  shift 3
  "$BUSE" registry serve --listen 127.0.0.1:5000 --volume "$uri" --mount "$mountpoint" "$@" >> "$log" 2>&1 &
  pid=$!
  wait_until 60 "the registry to answer on http://127.0.0.1:5000/v2/" curl -sf "http://127.0.0.1:5000/v2/"
}
