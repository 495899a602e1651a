#!/bin/bash
# Runs one scenario script inside a throw-away VM and exits with its status.
#
#   nbd/vm.sh [--quiet] [--timeout SECONDS] SCENARIO.sh [ARGS...]
#
# Why a VM: the build machine's kernel has no nbd module and no KVM, but qemu's
# software emulation (TCG) boots Debian's stock 6.1 kernel in seconds, and that
# kernel's nbd.ko has both the ioctl and the netlink interface.
#
# What the guest sees: the host's root, read-only over virtio-9p, under a tmpfs
# overlay, so the scenario runs the host's own binaries (buse, mkfs.ext4,
# nbd-client...) at their usual paths and may write anywhere; every write is
# gone at power-off. /tmp and /run are fresh tmpfs in the guest, so the
# scenario and $BUSE must live elsewhere (under the repository, say).
# nbd/guest-init.sh is the guest's first process; read it for the details.
#
# Results go to results/nbd/<scenario>-<timestamp>/ and are kept:
#   status       the scenario's exit status (missing if the VM died first)
#   output.log   the scenario's stdout and stderr
#   console.log  the serial console: kernel messages and the scenario's output
#   dmesg.txt    the guest's kernel log after the scenario
#   boot.txt     guest uptime when init started, the scenario started and ended
#   ps.txt, guest-tmp/, guest-run/   on failure: processes, and sparse copies
#                of the guest's /tmp and /run (backing images, daemon logs)
# A scenario may keep its own files in $RESULTS, which is that folder.
#
# Environment:
#   BUSE              the buse binary, passed to the scenario as $BUSE
#   NBD_VM_TIMEOUT    seconds before the VM is killed (default 600)
#   NBD_VM_BOOT_TIMEOUT  seconds for the guest's init to start before the VM
#                     is stopped and booted once more (default 120)
#   NBD_VM_RESULTS    where result folders go (default results/nbd)
#   NBD_VM_CPUS       virtual CPUs (default 2)
#   NBD_VM_MEMORY     guest memory (default 2G)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repository=$(dirname "$here")
cache=$here/.cache

quiet=false
timeout=${NBD_VM_TIMEOUT:-600}
while [ $# -gt 0 ]; do
  case $1 in
    --quiet) quiet=true; shift ;;
    --timeout) timeout=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "vm.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ]; then
  echo "usage: $0 [--quiet] [--timeout SECONDS] SCENARIO.sh [ARGS...]" >&2
  exit 2
fi
scenario=$(realpath "$1")
shift
name=$(basename "$scenario" .sh)
# The guest needs a minute after its own deadline to collect logs and power off.
if [ "$timeout" -lt 120 ]; then
  echo "vm.sh: --timeout must be at least 120 seconds" >&2
  exit 2
fi

# Paths the guest must reach through the 9p share: anything under its own
# tmpfs mounts would be hidden there.
visible_in_guest() {
  case $1 in
    /tmp/*|/run/*|/proc/*|/sys/*|/dev/*) return 1 ;;
  esac
}
[ -f "$scenario" ] || { echo "vm.sh: no scenario $scenario" >&2; exit 2; }
scenario=$(realpath "$scenario")
if [ -n "${BUSE:-}" ]; then
  BUSE=$(realpath "$BUSE")
  [ -x "$BUSE" ] || { echo "vm.sh: BUSE=$BUSE is not an executable" >&2; exit 2; }
fi
# A checkout under /tmp (a CI clone, say) is hidden in the guest: its files
# are staged into the results folder below, which the guest always sees, and
# the kernel cache (whose modules the guest mounts) moves out of it.
visible_in_guest "$cache/" || cache=/var/tmp/buse-nbd-cache

# --- The kernel, its modules and busybox, downloaded once into nbd/.cache ---

# The exact package behind linux-image-amd64, e.g. linux-image-6.1.0-56-amd64.
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n 1
}

# Downloads and unpacks one Debian package into $cache/NAME (once).
unpack() {
  local package=$1
  [ -e "$cache/$package/.unpacked" ] && return
  mkdir -p "$cache/debs"
  echo "vm.sh: downloading $package" >&2
  (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$package" >/dev/null)
  rm -rf "${cache:?}/$package"
  dpkg -x "$(ls "$cache/debs/${package}"_*.deb | tail -n 1)" "$cache/$package"
  touch "$cache/$package/.unpacked"
}

prepare_kernel() {
  "$repository/scripts/install-packages.sh" kernel >&2
  kernel=$(kernel_package)
  if [ -z "$kernel" ]; then
    apt-get update -qq
    kernel=$(kernel_package)
  fi
  if [ -z "$kernel" ]; then
    echo "vm.sh: apt-cache does not know linux-image-amd64; is this Debian 12?" >&2
    exit 2
  fi
  unpack "$kernel"
  unpack busybox-static
  version=$(ls "$cache/$kernel/lib/modules")
  modules=$cache/$kernel/lib/modules/$version
  vmlinuz=$cache/$kernel/boot/vmlinuz-$version
  busybox=$cache/busybox-static/bin/busybox
  # The package's postinst makes modules.dep; we never install it, so make it here.
  [ -e "$modules/modules.dep" ] || depmod -b "$cache/$kernel" "$version"
}

# --- The initramfs: busybox, the modules for virtio-9p and overlayfs, /init ---

declare -A module_seen
module_order=()

# Adds a module (a path relative to $modules) after everything it depends on.
add_module() {
  local path=$1 dependency
  [ -n "${module_seen[$path]:-}" ] && return
  module_seen[$path]=1
  for dependency in $(grep "^$path:" "$modules/modules.dep" | cut -d: -f2); do
    add_module "$dependency"
  done
  module_order+=("$path")
}

# The path of a module by name, e.g. 9pnet_virtio -> kernel/net/9p/9pnet_virtio.ko.
module_path() {
  cut -d: -f1 "$modules/modules.dep" | grep -E "/$1\.ko(\.xz|\.zst|\.gz)?$" | head -n 1
}

build_initramfs() {
  initramfs=$cache/initramfs-$version.cpio.gz
  if [ -e "$initramfs" ] && [ "$initramfs" -nt "$here/guest-init.sh" ] && [ "$initramfs" -nt "$0" ]; then
    return
  fi
  local staging module path
  staging=$(mktemp -d)
  mkdir -p "$staging"/{bin,dev,proc,sys,run,modules}
  cp "$busybox" "$staging/bin/busybox"
  cp "$here/guest-init.sh" "$staging/init"
  chmod 755 "$staging/init"
  # The kernel opens /dev/console for init before devtmpfs is mounted.
  mknod "$staging/dev/console" c 5 1 2>/dev/null || true
  # virtio_pci carries the 9p transport; 9p mounts the host; overlay stacks tmpfs on it.
  for module in virtio_pci 9pnet_virtio 9p overlay; do
    path=$(module_path "$module")
    [ -n "$path" ] || { echo "vm.sh: the kernel has no module $module" >&2; exit 2; }
    add_module "$path"
  done
  for path in "${module_order[@]}"; do
    module=$(basename "$path")
    case $module in
      *.xz) xz -dc "$modules/$path" > "$staging/modules/${module%.xz}" ;;
      *.zst) zstd -qdc "$modules/$path" > "$staging/modules/${module%.zst}" ;;
      *.gz) gzip -dc "$modules/$path" > "$staging/modules/${module%.gz}" ;;
      *) cp "$modules/$path" "$staging/modules/$module" ;;
    esac
    echo "${module%.ko*}.ko" >> "$staging/modules/order"
  done
  (cd "$staging" && find . | cpio -o -H newc --quiet | gzip -1) > "$initramfs.new"
  mv "$initramfs.new" "$initramfs"
  rm -rf "$staging"
}

# --- One run ---

# Single-quotes a word for the guest's shell.
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

prepare_kernel
build_initramfs

results_parent=${NBD_VM_RESULTS:-$repository/results/nbd}
visible_in_guest "$results_parent/" || results_parent=/var/tmp/buse-nbd-results
results=$results_parent/$name-$(date +%Y%m%d-%H%M%S)
suffix=1
while ! mkdir -p "$results_parent" || ! mkdir "$results" 2>/dev/null; do
  suffix=$((suffix + 1))
  results=$results_parent/$name-$(date +%Y%m%d-%H%M%S)-$suffix
done
visible_in_guest "$results/" || { echo "vm.sh: results folder $results is hidden in the guest" >&2; exit 2; }
if ! visible_in_guest "$scenario"; then
  mkdir -p "$results/stage/nbd" "$results/stage/scripts"
  cp -r "$(dirname "$scenario")/../lib" "$(dirname "$scenario")/../scenarios" "$results/stage/nbd/"
  # Scenarios that run a Ceph cluster in the guest use the project's script.
  cp "$(dirname "$scenario")/../../scripts/ceph-cluster.sh" "$(dirname "$scenario")/../../scripts/install-packages.sh" \
    "$results/stage/scripts/"
  scenario=$results/stage/nbd/scenarios/$(basename "$scenario")
fi
if [ -n "${BUSE:-}" ] && ! visible_in_guest "$BUSE"; then
  mkdir -p "$results/stage"
  cp "$BUSE" "$results/stage/buse"
  BUSE=$results/stage/buse
fi

{
  echo "SCENARIO=$(quote "$scenario")"
  echo "BUSE=$(quote "${BUSE:-}")"
  echo "RESULTS=$(quote "$results")"
  echo "KERNEL_VERSION=$(quote "$version")"
  echo "MODULES=$(quote "$modules")"
  echo "TIMEOUT=$((timeout - 60))"
  printf 'set --'
  for argument in "$@"; do printf ' %s' "$(quote "$argument")"; done
  echo
} > "$results/guest.env"

qemu_pid=""
follower_pid=""
stop_vm() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$qemu_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$qemu_pid" 2>/dev/null || true
  fi
  if [ -n "$follower_pid" ]; then
    kill "$follower_pid" 2>/dev/null || true
  fi
}
trap stop_vm EXIT
trap 'echo "vm.sh: interrupted; results in $results" >&2; exit 130' INT TERM

# Boots the VM and waits for it to power off (or kills it at the deadline).
# Sets timed_out, and boot_hung when the guest's init never started: in 1 of
# 335 boots (2026-12-07) the emulated kernel stopped after the BIOS, printing
# nothing, both vCPUs busy, until the deadline killed it; every other boot
# reached init within 5.1 s (median 2.0). So a guest that has not written
# boot.txt after NBD_VM_BOOT_TIMEOUT seconds (default 120) is stopped and
# booted once more; the scenario had not begun, so nothing of it is repeated.
boot_timeout=${NBD_VM_BOOT_TIMEOUT:-120}
run_vm() {
  started=$SECONDS
  timed_out=false
  boot_hung=false
  : > "$results/console.log"
  qemu-system-x86_64 -accel tcg -cpu max -m "${NBD_VM_MEMORY:-2G}" -smp "${NBD_VM_CPUS:-2}" \
    -nographic -nic none -no-reboot \
    -kernel "$vmlinuz" -initrd "$initramfs" \
    -append "console=ttyS0 loglevel=4 panic=-1 8250.nr_uarts=1" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$results,mount_tag=results,security_model=none,multidevs=remap" \
    < /dev/null >> "$results/console.log" 2>&1 &
  qemu_pid=$!

  if ! $quiet; then
    tail -n +1 -f --pid="$qemu_pid" "$results/console.log" &
    follower_pid=$!
  fi

  while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ $((SECONDS - started)) -ge "$timeout" ]; then
      timed_out=true
      echo "vm.sh: $name: killing the VM after ${timeout}s" >&2
      stop_vm
      break
    fi
    if [ ! -s "$results/boot.txt" ] && [ $((SECONDS - started)) -ge "$boot_timeout" ]; then
      boot_hung=true
      echo "vm.sh: $name: the guest's init did not start within ${boot_timeout}s; stopping the VM" >&2
      stop_vm
      break
    fi
    sleep 1
  done
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=""
  if [ -n "$follower_pid" ]; then
    wait "$follower_pid" 2>/dev/null || true
    follower_pid=""
  fi
}

total_started=$SECONDS
run_vm
if $boot_hung; then
  mv "$results/console.log" "$results/console-hung-boot.log"
  # Nothing of the stopped guest may pass for the next one's (it may have
  # reached init just as it was stopped).
  rm -f "$results/boot.txt" "$results/status" "$results/output.log"
  echo "vm.sh: $name: booting again (the hung boot's console: console-hung-boot.log)" >&2
  run_vm
fi
elapsed=$((SECONDS - total_started))

if [ -s "$results/status" ]; then
  status=$(cat "$results/status")
  why="exit $status"
  [ "$status" = 124 ] && why="timed out in the guest after $((timeout - 60))s"
elif $boot_hung; then
  status=125
  why="the guest's init did not start within ${boot_timeout}s, twice; see console.log"
elif $timed_out; then
  status=124
  why="VM killed after ${timeout}s"
else
  status=125
  why="VM stopped without a status; see console.log"
fi

boot=""
if [ -s "$results/boot.txt" ]; then
  boot=$(awk '$1 == "scenario_start" { printf ", boot %.1fs", $2 }' "$results/boot.txt")
fi
if [ "$status" = 0 ]; then
  echo "vm.sh: PASS $name (${elapsed}s$boot) $results"
else
  if $quiet; then
    # The scenario's own output if it got that far, else the console (a panic).
    log=$results/output.log
    [ -s "$log" ] || log=$results/console.log
    echo "--- last lines of $log" >&2
    tail -n 25 "$log" >&2
  fi
  echo "vm.sh: FAIL $name: $why (${elapsed}s$boot) $results"
fi
exit "$status"
