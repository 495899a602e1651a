#!/bin/busybox sh
# The test VM's first process. nbd/vm.sh copies this file into the initramfs as
# /init next to a static busybox and the modules for virtio-9p and overlayfs.
#
# It builds the guest's root from the host's root (9p tag "hostroot", read-only)
# with a tmpfs overlay on top, mounts /proc /sys /dev /tmp /run there, puts the
# unpacked kernel's modules at /lib/modules/<version> so `modprobe nbd` works,
# then runs the scenario in that root (chroot) with a watchdog. The scenario's
# status, output and the kernel log go to the results share (9p tag "results",
# writable), whose guest.env says what to run. Then it powers off.
#
# Init itself stays in the initramfs: it is PID 1, it reaps orphans (daemons
# the scenario starts), and it can still power off if the new root is wedged.
# Commands run in the new root by absolute path: busybox's chroot would run
# its own applet for a bare name like `cp` or `ps`.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec < /dev/console > /dev/console 2>&1
read -r uptime _ < /proc/uptime
echo "init_start $uptime" > /run/boot.txt

# A failure before the scenario runs: say why on the console and in the
# results if they are mounted, then power off. The host sees no status file.
die() {
  echo "init: $*"
  if mountpoint -q /results; then
    echo "init: $*" >> /results/init-error.txt
    dmesg > /results/dmesg.txt
  fi
  poweroff -n -f
}

for module in $(cat /modules/order); do
  insmod "/modules/$module" || die "insmod $module failed"
done

# 512000 bytes is the largest message the 6.1 virtio transport takes; big
# messages make reading binaries over 9p several times faster.
ninep="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /results /lower /rw /newroot
mount -t 9p -o "$ninep" results /results || die "cannot mount the results share"
cp /run/boot.txt /results/boot.txt
. /results/guest.env
# The host's root changes little during a run, so the guest may cache it.
mount -t 9p -o "$ninep,ro,cache=loose" hostroot /lower || die "cannot mount the host's root"
mount -t tmpfs -o mode=0755 overlay-rw /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /newroot ||
  die "cannot mount the overlay root"

root=/newroot
mount -t proc proc $root/proc
mount -t sysfs sysfs $root/sys
mount -t devtmpfs devtmpfs $root/dev
mkdir -p $root/dev/pts $root/dev/shm
mount -t devpts devpts $root/dev/pts
mount -t tmpfs -o mode=1777 shm $root/dev/shm
mount -t tmpfs -o mode=1777 tmp $root/tmp
mount -t tmpfs -o mode=0755 run $root/run
mount -t debugfs debugfs $root/sys/kernel/debug 2>/dev/null || true
mkdir -p "$root/lib/modules/$KERNEL_VERSION"
mount --bind "$root$MODULES" "$root/lib/modules/$KERNEL_VERSION" || die "cannot bind the modules"
mount --bind /results "$root$RESULTS" || die "cannot bind the results folder at $RESULTS"
hostname buse-vm
ip link set lo up

# The kernel loads modules on its own (an ext4 mount, the nbd netlink family)
# by running /proc/sys/kernel/modprobe in init's root, which is this
# initramfs: send it to the real modprobe in the new root.
printf '#!/bin/sh\nexec chroot %s /usr/sbin/modprobe "$@"\n' "$root" > /bin/modprobe-in-root
chmod 755 /bin/modprobe-in-root
echo /bin/modprobe-in-root > /proc/sys/kernel/modprobe

# Saves what a person needs to see why the scenario failed, then the status
# (written last: its presence tells the host the run completed), and powers off.
finish() {
  status=$1
  read -r uptime _ < /proc/uptime
  echo "scenario_end $uptime" >> /results/boot.txt
  sleep 1   # lets the console follower print the last lines
  kill "$follower" 2>/dev/null
  cp /run/output.log /results/output.log
  if [ "$status" != 0 ]; then
    chroot $root /usr/bin/ps -eo pid,ppid,stat,wchan:32,args > /results/ps.txt 2>&1
    chroot $root /usr/bin/cp -a --sparse=always /tmp "$RESULTS/guest-tmp" 2>> /results/copy-errors.txt
    chroot $root /usr/bin/cp -a --sparse=always /run "$RESULTS/guest-run" 2>> /results/copy-errors.txt
    [ -s /results/copy-errors.txt ] || rm -f /results/copy-errors.txt
  fi
  dmesg > /results/dmesg.txt
  echo "init: scenario exited with status $status"
  echo "$status" > /results/status
  # Unmounting flushes the results share. No global sync (and poweroff -n):
  # it would wait for dirty pages of an nbd device whose server is gone.
  umount "$root$RESULTS" /results 2>/dev/null
  poweroff -n -f
}

# The script's own interpreter (#!/bin/sh, #!/bin/bash), always with -e.
read -r first < "$root$SCENARIO"
case $first in
  '#!'*) interpreter=${first#??} ;;
  *) interpreter=/bin/sh ;;
esac
read -r uptime _ < /proc/uptime
echo "scenario_start $uptime" >> /results/boot.txt
echo "init: running $SCENARIO $*"
: > /run/output.log
chroot $root /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TERM=dumb LANG=C.UTF-8 BUSE="$BUSE" RESULTS="$RESULTS" \
  $interpreter -e "$SCENARIO" "$@" < /dev/null > /run/output.log 2>&1 &
scenario=$!
tail -f /run/output.log &
follower=$!

# The watchdog: past TIMEOUT seconds it records the blocked tasks, kills the
# scenario and finishes the run itself, even if the scenario cannot die
# (a process stuck in the kernel on a dead nbd device).
(
  sleep "$TIMEOUT"
  touch /run/timed-out
  echo "init: the scenario is still running after ${TIMEOUT}s; stopping it"
  echo w > /proc/sysrq-trigger
  chroot $root /usr/bin/ps -eo pid,ppid,stat,wchan:32,args > /results/ps-at-timeout.txt 2>&1
  kill -KILL "$scenario"
  sleep 5
  finish 124
) &
watchdog=$!

wait "$scenario"
status=$?
if [ -e /run/timed-out ]; then
  wait "$watchdog"
  poweroff -n -f
fi
kill "$watchdog" 2>/dev/null
finish "$status"
