#!/bin/sh
# A second `buse connect --nbd /dev/nbd0` while /dev/nbd0 is attached is
# refused, through netlink and through the ioctls alike, with a message that
# says the device is busy or in use, and a non-zero exit. The first attachment
# goes on working, and the second backing file is left alone.
set -eu
. "$(dirname "$0")/../lib/scenario.sh"

first=/tmp/first.img
second=/tmp/second.img

step "modprobe nbd; buse connect --nbd /dev/nbd0 --daemon file:$first"
modprobe nbd
device=$(connect_daemon "$RESULTS/connect.out" --nbd /dev/nbd0 --pid-file /run/buse.pid "file:$first?size=64M")
[ "$device" = /dev/nbd0 ] || fail "buse connect --nbd /dev/nbd0 attached $device"
pid=$(cat /run/buse.pid)
echo "attached $device, daemon pid $pid"

# A second connect must fail at once; the timeout only keeps a wrong success
# (a foreground server) from hanging the scenario.
for mode in netlink ioctl; do
  step "a second buse connect --nbd /dev/nbd0 ($mode) is refused"
  flag=""
  [ "$mode" = ioctl ] && flag=--ioctl
  status=0
  timeout 60 "$BUSE" connect $flag --nbd /dev/nbd0 "file:$second?size=32M" \
    > "$RESULTS/second-$mode.out" 2> "$RESULTS/second-$mode.err" || status=$?
  cat "$RESULTS/second-$mode.out" "$RESULTS/second-$mode.err"
  [ "$status" != 0 ] || fail "the second buse connect ($mode) succeeded"
  [ "$status" != 124 ] || fail "the second buse connect ($mode) was still running after 60 s"
  grep -qiE 'busy|in use' "$RESULTS/second-$mode.err" ||
    fail "the second buse connect ($mode) failed without saying the device is busy or in use"
done

step "the first attachment still works"
kill -0 "$pid" || fail "the first daemon (pid $pid) died"
[ "$(blockdev --getsize64 "$device")" = 67108864 ] || fail "$device is no longer 64 MiB"
head -c 1048576 /dev/urandom > /tmp/block
dd if=/tmp/block of="$device" bs=1M seek=7 oflag=direct,sync status=none
dd if="$device" of=/tmp/block-back bs=1M skip=7 count=1 iflag=direct status=none
cmp /tmp/block /tmp/block-back || fail "$device does not read back what was written"

step "buse disconnect $device"
disconnect_daemon "$device" "$pid"
dd if="$first" of=/tmp/block-file bs=1M skip=7 count=1 status=none
cmp /tmp/block /tmp/block-file || fail "$first does not hold what was written to $device"
if [ -s "$second" ] && [ -n "$(tr -d '\0' < "$second" | head -c 1)" ]; then
  fail "$second has data: the refused connect served something"
fi
step "passed"
