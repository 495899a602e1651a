#!/bin/sh
# A throwaway one-node Ceph cluster on 127.0.0.1 for buse's RADOS tests and
# benchmarks: one ceph-mon, one ceph-osd on memstore (RAM), no ceph-mgr,
# auth none, and a pool `buse` of size 1 with 8 PGs.
#
#   scripts/ceph-cluster.sh start DIR      create and start a fresh cluster in DIR;
#                                          prints CEPH_CONF=DIR/ceph.conf on stdout
#   scripts/ceph-cluster.sh stop DIR [--purge]
#                                          stop the daemons started in DIR (by their
#                                          recorded pids); --purge also removes DIR
#   scripts/ceph-cluster.sh status DIR     are the daemons alive, and `ceph -s`
#   scripts/ceph-cluster.sh env DIR        prints `export CEPH_CONF=DIR/ceph.conf`
#
# For failure tests (the OSD is the only one, so every I/O depends on it):
#   scripts/ceph-cluster.sh stop-osd DIR   stop the OSD cleanly: it tells the mon it
#                                          is going down, saves its memstore to
#                                          DIR/osd, and clients' I/O waits until
#                                          rados_osd_op_timeout, then fails
#   scripts/ceph-cluster.sh start-osd DIR  start it again with the data it saved
#   scripts/ceph-cluster.sh pause-osd DIR  SIGSTOP the OSD: it hangs without being
#                                          marked down (clients time out); see
#                                          BUSE_CEPH_READ_LEASE for pauses over 10 s
#   scripts/ceph-cluster.sh resume-osd DIR SIGCONT it; ops the clients gave up on
#                                          may still be applied then
#
# status exits 0 only when both daemons run. Without a mgr, commands served by
# it (ceph df, ceph osd df, ceph pg ...) time out; object I/O and rbd work.
# Keep DIR short (e.g. /tmp/buse-ceph): the daemons' admin sockets live in
# DIR/run and a socket path must fit in 107 characters.
# Environment:
#   BUSE_CEPH_PORT      the mon's msgr2 port (default 3300); msgr1 is the next
#                       port. Set it to run two clusters side by side.
#   BUSE_CEPH_MEMSTORE  bytes of RAM the OSD may use (default 8 GiB). memstore
#                       keeps about twice what is written and never gives it
#                       back; when full, writes fail after the client timeout.
#   BUSE_CEPH_TIMEOUT   client op timeout in seconds written to ceph.conf (default 10)
#   BUSE_CEPH_READ_LEASE  the PGs' read lease in seconds (default Ceph's, 16). An
#                       OSD paused past its lease with ops queued finds its PGs
#                       "laggy" when it runs again, and Ceph 16 sometimes keeps
#                       those ops "waiting for readable" for minutes (seen in
#                       buse's CI; cf. Ceph PR 71663). The OSD renews at half the
#                       lease, so a pause shorter than that never lets it run out.
#                       One OSD cannot serve a stale read, so a long lease guards
#                       nothing here; its cost: after a kill -9 the restarted OSD
#                       serves no I/O until the lease has passed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
me=ceph-cluster

say() { echo "$me: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
  echo "usage: $0 start|stop|status|env|stop-osd|start-osd|pause-osd|resume-osd DIR [--purge]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
command=$1
dir=$2
purge=no
if [ $# -ge 3 ]; then
  if [ "$3" != --purge ] || [ "$command" != stop ]; then usage; fi
  purge=yes
fi

# DIR as an absolute path without a trailing slash.
case "$dir" in
  /*) ;;
  *) dir="$(pwd)/$dir" ;;
esac
while [ "${dir%/}" != "$dir" ] && [ "$dir" != / ]; do dir=${dir%/}; done
[ "$dir" != / ] || die "DIR must not be /"

conf=$dir/ceph.conf
marker=$dir/.buse-ceph-cluster # says DIR is ours, so start/--purge may wipe it
export CEPH_CONF="$conf"

port=${BUSE_CEPH_PORT:-3300}
memstore=${BUSE_CEPH_MEMSTORE:-8589934592}
op_timeout=${BUSE_CEPH_TIMEOUT:-10}
read_lease=${BUSE_CEPH_READ_LEASE:-16}
for n in "$port" "$memstore" "$op_timeout" "$read_lease"; do
  case "$n" in
    '' | *[!0-9]*) die "BUSE_CEPH_PORT, BUSE_CEPH_MEMSTORE, BUSE_CEPH_TIMEOUT and BUSE_CEPH_READ_LEASE take whole numbers" ;;
  esac
done

# --- processes -------------------------------------------------------------

# is_ours PID PROGRAM: PID is a live PROGRAM started with our ceph.conf.
# Checking the command line guards against a reused pid; a zombie has an empty
# one, so a daemon that died but was never reaped counts as gone.
is_ours() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  case "$cmdline" in
    *"$2 "*"--conf $conf "*) return 0 ;;
    *) return 1 ;;
  esac
}

# daemon_pid mon|osd: the recorded pid of that daemon if it is alive, else "".
# The daemons write DIR/mon.pid and DIR/osd.pid themselves (pid_file below) and
# remove them when they exit cleanly.
daemon_pid() {
  pid=$(cat "$dir/$1.pid" 2>/dev/null || true)
  if is_ours "$pid" "ceph-$1"; then echo "$pid"; fi
}

# wait_gone PID PROGRAM SECONDS: poll until PID has exited; 1 if it has not.
wait_gone() {
  tries=$(($3 * 10))
  while is_ours "$1" "$2"; do
    tries=$((tries - 1))
    [ $tries -gt 0 ] || return 1
    sleep 0.1
  done
}

# stop_daemon mon|osd SECONDS [fast]: SIGTERM, wait, then SIGKILL if it hangs.
# The OSD's clean shutdown writes its whole memstore to DIR/osd (seconds per
# few hundred MB); "fast" first switches that off through its admin socket,
# for when the data is thrown away anyway.
stop_daemon() {
  pid=$(daemon_pid "$1")
  if [ -z "$pid" ]; then
    say "$1 is not running"
    rm -f "$dir/$1.pid"
    return 0
  fi
  kill -CONT "$pid" 2>/dev/null || true # in case it was paused
  if [ "$1" = osd ] && [ "${3:-}" = fast ]; then
    timeout 10 ceph --conf "$conf" daemon osd.0 config set osd_fast_shutdown true \
      >/dev/null 2>&1 || true
  fi
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "ceph-$1" "$2"; then
    say "$1 (pid $pid) did not exit in $2 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "ceph-$1" 10 || die "$1 (pid $pid) survived SIGKILL"
  fi
  rm -f "$dir/$1.pid"
  say "stopped $1 (pid $pid)"
}

# The ceph CLI, bounded so a dead mon fails instead of hanging.
ceph_cli() {
  timeout 60 ceph --conf "$conf" --connect-timeout 15 "$@"
}

# elapsed START: seconds since START (a `date +%s.%N`), to one decimal.
elapsed() {
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

show_logs() {
  for log in "$dir"/log/*.log; do
    [ -f "$log" ] || continue
    echo "--- last lines of $log" >&2
    tail -n 15 "$log" >&2
  done
}

# --- the OSD ---------------------------------------------------------------

start_osd() {
  # Daemonizes once it is initialised; it then boots into the osdmap by itself.
  ceph-osd --conf "$conf" -i 0 >>"$dir/log/osd-stderr.log" 2>&1 ||
    { show_logs; die "ceph-osd failed to start"; }
  [ -n "$(daemon_pid osd)" ] || { show_logs; die "ceph-osd exited right after starting"; }
}

# put_ballast: keeps a 64 MiB object in pool buse for the cluster's life.
# memstore's count of used bytes drifts under concurrent deletes and has been
# seen to go below zero, when the OSD takes itself for full and blocks every
# write; bytes that are never deleted keep the count above zero.
put_ballast() {
  head -c 64M /dev/zero >"$dir/run/ballast"
  rados --conf "$conf" -p buse put ceph-cluster-ballast "$dir/run/ballast" 2>/dev/null ||
    say "could not store the ballast object (the cluster still works)"
  rm -f "$dir/run/ballast"
}

# wait_for_io SECONDS: poll until a small object can be written and read back
# in pool buse (so the mon is up, the OSD is up and the PGs are active).
wait_for_io() {
  probe=$dir/run/probe
  echo "buse ceph probe $$" >"$probe"
  deadline=$(($(date +%s) + $1))
  while :; do
    # A short op timeout per try so an inactive PG makes this try fail quickly.
    if timeout 20 rados --conf "$conf" --rados-osd-op-timeout 3 --rados-mon-op-timeout 3 \
        -p buse put buse-probe "$probe" 2>/dev/null &&
      timeout 20 rados --conf "$conf" --rados-osd-op-timeout 3 --rados-mon-op-timeout 3 \
        -p buse get buse-probe "$probe.back" 2>/dev/null &&
      cmp -s "$probe" "$probe.back"; then
      rados --conf "$conf" -p buse rm buse-probe 2>/dev/null || true
      rm -f "$probe" "$probe.back"
      put_ballast
      return 0
    fi
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    [ -n "$(daemon_pid osd)" ] || { say "the OSD died"; return 1; }
    sleep 0.2
  done
}

# --- start -----------------------------------------------------------------

write_conf() {
  fsid=$1
  cat >"$conf" <<EOF
# Written by scripts/ceph-cluster.sh: a one-node throwaway cluster.
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]
# Only the loopback address, only IPv4.
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv4 = true
ms_bind_ipv6 = false
# No authentication at all: no keyrings needed anywhere.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_allow_insecure_global_id_reclaim = false
# Everything the daemons write stays under DIR.
run_dir = $dir/run
crash_dir = $dir/crash
pid_file = $dir/\$type.pid
mon_data = $dir/mon
osd_data = $dir/osd
mon_cluster_log_file = $dir/log/cluster.log
# One OSD: size-1 pools, few PGs, and CRUSH choosing OSDs rather than hosts.
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
# The read lease is this ratio times osd_heartbeat_grace (20 s): BUSE_CEPH_READ_LEASE.
osd_pool_default_read_lease_ratio = $(awk "BEGIN { print $read_lease / 20 }")
# Quiet health: no mgr on purpose, and a nearly full shared disk is not a
# problem: the mon's store is a few MiB and the OSD keeps its data in RAM.
# At or below mon_data_avail_crit whole percent free the mon refuses to start
# (exit 28, nothing logged; once running it only reports MON_DISK_CRIT), and
# 0 would still refuse below 1%: CI machines share a disk whose free space is
# not ours to keep, so -1 turns the check off, and the warning with it.
mon_mgr_mkfs_grace = 31536000
mon_data_avail_warn = -1
mon_data_avail_crit = -1
# Commit monitor changes at once instead of batching for a second.
paxos_propose_interval = 0.01
paxos_min_wait = 0.01

[mon]
log_file = $dir/log/\$name.log

[osd]
log_file = $dir/log/\$name.log
osd_objectstore = memstore
memstore_device_bytes = $memstore
# A clean shutdown (stop-osd) saves the memstore to osd_data, so start-osd
# comes back with the data; the fast default would exit without saving.
osd_fast_shutdown = false

[client]
# A full or down OSD (or a dead mon) makes I/O fail after this long instead
# of waiting forever.
rados_osd_op_timeout = $op_timeout
rados_mon_op_timeout = $op_timeout
client_mount_timeout = $op_timeout
EOF
}

# port_busy PORT: something listens on 127.0.0.1:PORT or *:PORT (IPv4 or IPv6).
port_busy() {
  hex=$(printf ':%04X ' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p="$hex" '$4 == "0A" && index($2 " ", p)' | grep -q .
}

start() {
  started=$(date +%s.%N)
  if [ -n "$(daemon_pid mon)" ]; then
    if [ -n "$(daemon_pid osd)" ]; then
      say "already running in $dir (mon pid $(daemon_pid mon), osd pid $(daemon_pid osd))"
    else
      say "mon running in $dir, starting the OSD"
      start_osd
      wait_for_io 120 || { show_logs; die "I/O did not work within 120 s"; }
    fi
    echo "CEPH_CONF=$conf"
    return 0
  fi

  "$here/install-packages.sh" ceph

  # Admin sockets: DIR/run/ceph-mon.a.asok and DIR/run/ceph-osd.0.asok.
  [ ${#dir} -le 85 ] || die "DIR is too long (${#dir} characters, 85 at most): admin socket paths must fit in 107"

  # DIR must be new, empty, or a cluster of ours that has stopped: never wipe
  # anything else.
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    [ -f "$marker" ] || die "$dir is not empty and not a cluster made by this script"
    [ -z "$(daemon_pid osd)" ] || die "an OSD of $dir is still running without its mon: run '$0 stop $dir' first"
    say "replacing the stopped cluster in $dir with a fresh one"
    rm -rf "$dir/mon" "$dir/osd" "$dir/run" "$dir/log" "$dir/crash" "$dir/monmap" "$conf"
  fi
  for p in "$port" $((port + 1)); do
    ! port_busy "$p" || die "port $p is in use (another cluster? set BUSE_CEPH_PORT)"
  done
  mkdir -p "$dir/mon" "$dir/osd" "$dir/run" "$dir/log" "$dir/crash"
  : >"$marker"

  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"

  # If anything below fails, stop what was started so no daemon is left behind.
  trap 'rc=$?; if [ $rc -ne 0 ]; then show_logs; stop_daemon osd 10 fast || true; stop_daemon mon 10 || true; fi' EXIT

  # The monitor: a monmap with one mon "a", its store, then the daemon, which
  # forks into the background once it listens and writes DIR/mon.pid.
  monmaptool --create --fsid "$fsid" \
    --addv a "[v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]" "$dir/monmap" >/dev/null
  ceph-mon --conf "$conf" -i a --mkfs --monmap "$dir/monmap" >>"$dir/log/mon-stderr.log" 2>&1 ||
    die "ceph-mon --mkfs failed"
  # Its exit status says why when its log does not (28: see mon_data_avail_crit).
  ceph-mon --conf "$conf" -i a >>"$dir/log/mon-stderr.log" 2>&1 || die "ceph-mon failed to start (exit $?)"
  [ -n "$(daemon_pid mon)" ] || die "ceph-mon exited right after starting"

  # The OSD: register id 0 with the mon (this waits for the mon's quorum of
  # one), make its memstore, start it. It adds itself to the CRUSH map and is
  # marked up and in when it boots. Then the pool; the ceph CLI reads its
  # commands from stdin to pay its start-up cost once.
  osd_id=$(ceph_cli osd new "$osd_uuid") || die "ceph osd new failed"
  [ "$osd_id" = 0 ] || die "ceph osd new gave id $osd_id, expected 0"
  ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/osd-stderr.log" 2>&1 ||
    die "ceph-osd --mkfs failed"
  start_osd
  ceph_cli >/dev/null 2>>"$dir/log/cli.log" <<EOF || die "creating pool buse failed (see $dir/log/cli.log)"
osd pool create buse 8 8 replicated
osd pool set buse size 1 --yes-i-really-mean-it
osd pool set buse min_size 1
osd pool application enable buse rbd
EOF

  wait_for_io 120 || die "I/O did not work within 120 s"
  trap - EXIT
  say "started in $dir in $(elapsed "$started") s:" \
    "mon pid $(daemon_pid mon), osd pid $(daemon_pid osd), pool buse"
  echo "CEPH_CONF=$conf"
}

# --- the other commands ----------------------------------------------------

stop() {
  [ -f "$marker" ] || [ -f "$conf" ] || die "$dir holds no cluster made by this script"
  # The OSD first: on the way down it tells the mon, which must still be up.
  stop_daemon osd 30 fast
  stop_daemon mon 30
  if [ "$purge" = yes ]; then
    [ -f "$marker" ] || die "not removing $dir: it has no $marker"
    rm -rf "$dir"
    say "removed $dir"
  fi
}

status() {
  [ -f "$conf" ] || die "no cluster in $dir"
  rc=0
  for d in mon osd; do
    pid=$(daemon_pid $d)
    if [ -z "$pid" ]; then
      echo "$d: not running"
      rc=1
    elif grep -q '^State:.*stopped' "/proc/$pid/status" 2>/dev/null; then
      echo "$d: paused (pid $pid)"
      rc=1
    else
      echo "$d: running (pid $pid)"
    fi
  done
  if [ -n "$(daemon_pid mon)" ]; then
    timeout 15 ceph --conf "$conf" --connect-timeout 5 -s || rc=1
  fi
  return $rc
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export CEPH_CONF=$conf" ;;
  stop-osd) stop_daemon osd 300 ;;
  start-osd)
    [ -n "$(daemon_pid mon)" ] || die "the mon of $dir is not running: use start"
    if [ -n "$(daemon_pid osd)" ]; then
      say "the OSD is already running (pid $(daemon_pid osd))"
    else
      started=$(date +%s.%N)
      start_osd
      wait_for_io 120 || { show_logs; die "I/O did not work within 120 s"; }
      say "OSD back (pid $(daemon_pid osd)), I/O works, in $(elapsed "$started") s"
    fi
    ;;
  pause-osd | resume-osd)
    pid=$(daemon_pid osd)
    [ -n "$pid" ] || die "the OSD is not running"
    if [ "$command" = pause-osd ]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
    say "${command%-osd}d OSD (pid $pid)"
    ;;
  *) usage ;;
esac
