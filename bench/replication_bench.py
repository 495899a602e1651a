"""The replication comparison of `make bench`: replicated buse beside unreplicated buse, and resync beside nbdcopy.

What it measures
  Client writes. fio's nbd engine drives, over loopback TCP (or a Unix socket
  with --transport unix), the same preconditioned --size-mib file on tmpfs
  served two ways:
    buse        `buse serve --export bench=file:IMAGE` (no replication)
    replicated  `buse serve ... --replicate-to 127.0.0.1:PORT --state DIR` with a
                `buse replica` on a second tmpfs file, both fresh for each run;
                fio starts only once the primary reports the peer in sync
                (after the new replica's full copy, which is not timed).
    replicated-psk  the same with `--peer-psk KEY` on both nodes (a `psktool`
                file): the link authenticated and encrypted with TLS 1.3
                (--replication-psk no leaves it out). Its ratio is to
                `replicated`: what authentication and encryption cost.
  Workloads, time_based, --runtime s each: 4K random write at iodepth 16 and
  at iodepth 1, 1M sequential write at iodepth 16, and 4K random write at
  iodepth 1 with a flush after each write (fio --fsync=1; its IOPS count
  writes, and the table adds the flushes' mean latency). Each runs --reps times per
  contender, the order rotated each repetition; medians. Each timed run comes
  after --replication-warmup s of the same workload on the same fresh server
  or pair, not timed: a fresh pair's first write to each 1 MiB region waits
  for an activity-log sync on both nodes (1,024 on a 1 GiB volume, about
  0.3 s of a 4 s run), which a running pair paid once, long ago.

  Resync. A primary and its replica are paired (full copy, not timed); the
  replica is stopped with SIGTERM (a clean stop: it adds no regions of its
  own); fio writes the first --replication-resync-mib MiB of the volume
  sequentially (1M, iodepth 16), so the regions the replica misses are one
  contiguous range starting at 0; the replica is started again. The resync is
  timed on the replica's log (unbuffered stderr, read every millisecond): from
  "primary ... connected" (the primary's hello, so the connector's reconnect
  backoff is not counted) to "in sync with the primary" (the primary's
  resync-done, after the copy and its peer flushes), and `buse status --json`'s
  source, the primary's control socket, must then say "in-sync". The control
  socket is not polled during the copy: each status reads the primary's log,
  and asked every 5 ms it slowed the 512 MiB resync by about 20%. The primary's
  log line "resyncing N bytes" must give exactly the bytes written meanwhile
  (so nothing else is copied). Its throughput is compared with `nbdcopy
  --flush` copying the same bytes, [0, N MiB) of the same source file on tmpfs to [0, N MiB) of
  a preconditioned target file on tmpfs, both exported over loopback TCP as
  windows of exactly N MiB (nbdcopy copies whole exports):
    nbdcopy-nbdkit  `nbdkit file --filter=offset range=N` on both ends
    nbdcopy-buse    `buse serve --export bench=file:IMAGE?offset=0&length=N` on both
  timed from nbdcopy's start to its exit (nbdcopy's defaults: 4 connections
  when the server allows multi-conn, 64 requests of 256 KiB in flight).
  Resync moves the data over one TCP hop (primary → replica); nbdcopy over two
  (source server → nbdcopy → target server), with a third process on the same
  two cores.

Per run: IOPS, MB/s and mean completion latency from fio; CPU µs per I/O of the
server, of the primary and the replica together (for the replicated runs), and
their peak RSS (VmHWM). For resync and nbdcopy: seconds, MB/s (10^6 bytes) and
the CPU seconds of every process taking part.

Bars (the issue's): replicated/unreplicated >= 0.8 on 4K random write IOPS at
iodepth 16 and on 1M sequential write MB/s; replicated mean latency at 4K
iodepth 1 <= 2x unreplicated; resync throughput >= 0.8x nbdcopy's (each of
nbdcopy-nbdkit and nbdcopy-buse, when run). Issue 15's per-I/O bars (CPU per
write of the primary, the replica and the machine, RSS) are printed each with
the same ratio for bench/pipeline_floor.c, the least a C server of the same
shape spends, and for its one-thread primary, the least of the other shape
(replication_floor.py; --replication-floor no leaves them out): a bar a
floor itself misses is out of reach for any server of that shape on this
machine. The two iodepth-1 bars (latency and CPU) get the floor of buse's
shape under fio, its readers blocking and polling as long as buse's: polling
less trades one of the two for the other, so the pair is out of reach only if
the floor meets both at no poll length.

Every process is stopped by pid at the end of its run, on Ctrl-C and on
SIGTERM (and gets SIGTERM from the kernel should the script die); the work
directory (images, state folders) is removed.
"""

import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import replication_floor
from common import EXPORT, Server, Workload, die_with_parent, fmt, free_port, markdown_table, medians, measured, \
    run_fio, run_rotated, workload_options

WORKLOADS = [
    Workload("4k-randwrite-qd16", "randwrite", "4k", 16),
    Workload("4k-randwrite-qd1", "randwrite", "4k", 1),
    Workload("1m-seqwrite-qd16", "write", "1m", 16),
    # A flush after every write, as a database or a filesystem's journal asks: FLUSH must reach both
    # disks, so this measures the whole flush path (the peer's round trip, the log's trim, the activity log).
    Workload("4k-randwrite-qd1-flush", "randwrite", "4k", 1, fio_options=("--fsync=1",)),
]
CONTENDERS = ["buse", "replicated", "replicated-psk"]
COPIERS = ["resync", "nbdcopy-nbdkit", "nbdcopy-buse"]
# (text, workload, metric, "min" ratio floor or "max" ratio ceiling, bound), ratio = replicated / buse.
BARS = [
    ("4K random write IOPS at iodepth 16: replicated >= 0.8x unreplicated", "4k-randwrite-qd16", "iops", "min", 0.8),
    ("4K random write mean latency at iodepth 1: replicated <= 2x unreplicated", "4k-randwrite-qd1", "lat_us", "max", 2.0),
    ("1M sequential write MB/s at iodepth 16: replicated >= 0.8x unreplicated", "1m-seqwrite-qd16", "mbps", "min", 0.8),
]
RESYNC_BAR = 0.8
POLL_S = 0.02  # each status reads the primary's log: polled often, it slows what it watches
SYNC_TIMEOUT_S = 120  # the connector's backoff is at most 30 s; a 1 GiB copy takes seconds


def add_arguments(parser):
    parser.add_argument("--replication-resync-mib", type=int, default=512,
                        help="MiB written while the replica is away, then resynced (default 512)")
    parser.add_argument("--replication-copiers", default=",".join(COPIERS),
                        help="comma-separated resync contenders (default resync,nbdcopy-nbdkit,nbdcopy-buse); "
                        "empty: no resync comparison")
    parser.add_argument("--replication-psk", default="yes", choices=["yes", "no"],
                        help="also run the pair with --peer-psk (TLS 1.3 on the link) (default yes)")
    parser.add_argument("--replication-writes", default="yes", choices=["yes", "no"],
                        help="run the replicated against unreplicated client writes (default yes)")
    parser.add_argument("--replication-warmup", type=int, default=1,
                        help="seconds of each workload run untimed on a fresh server or pair before the timed run "
                        "(default 1; 0: none)")
    parser.add_argument("--replication-floor", default="yes", choices=["yes", "no"],
                        help="also measure bench/pipeline_floor.c, the C floors under the per-I/O bars (buse's "
                        "shape, and a one-thread primary), and print their ratios beside each (default yes; needs cc)")


def check_arguments(parser, args):
    args.replication_copiers_list = [c.strip() for c in args.replication_copiers.split(",") if c.strip()]
    unknown = set(args.replication_copiers_list) - set(COPIERS)
    if unknown:
        parser.error(f"unknown contender(s) in --replication-copiers: {', '.join(sorted(unknown))}")
    if args.replication_warmup < 0:
        parser.error("--replication-warmup must be 0 or more seconds")
    if not 0 < args.replication_resync_mib <= args.size_mib:
        parser.error("--replication-resync-mib must be above 0 and at most --size-mib")


def missing_prerequisites(args):
    """Why the replication comparison cannot run here, or "" when it can."""
    tools = ["fio"] + (["nbdcopy"] if any(c.startswith("nbdcopy") for c in args.replication_copiers_list) else [])
    tools += ["nbdkit"] if "nbdcopy-nbdkit" in args.replication_copiers_list else []
    tools += ["psktool"] if args.replication_psk == "yes" else []
    tools += ["cc"] if args.replication_floor == "yes" and args.replication_writes == "yes" else []
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return ", ".join(missing) + " missing" if missing else ""


# ---------------------------------------------------------------- processes

class Replica:
    """A `buse replica` on `image`, state in `state`; ready once it prints that it listens."""

    def __init__(self, buse, image, state, workdir, size_mib, port=None, timeout=30.0, extra=()):
        self.state = state
        for attempt in range(3):  # a free port can be taken between probe and bind
            self.port = port or free_port()
            self.log_path = os.path.join(workdir, "replica.log")
            self.log = open(self.log_path, "ab")
            start = self.log.tell()
            command = [buse, "replica", "--listen", f"127.0.0.1:{self.port}",
                       "--device", f"file:{image}?size={size_mib}M", "--state", state, *extra]
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log,
                                            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
            if self.wait_listening(start, timeout):
                return
            self.stop()
            if port:
                break
        raise RuntimeError(f"buse replica did not start listening; its log ({self.log_path}) ends:\n{self.log_tail()}")

    def wait_listening(self, start, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                if b" listening on " in f.read():
                    return True
            time.sleep(0.02)
        return False

    def stop(self):
        return stop_process(self.process, "buse replica", self.log)

    def log_tail(self, lines=15):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def stop_process(process, name, log=None):
    """SIGTERM, then SIGKILL after 10 s; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            print(f"  ! {name} ignored SIGTERM for 10 s; killing pid {process.pid}", file=sys.stderr)
            process.kill()
            process.wait()
    if log:
        log.close()
    return process.returncode


def cpu_us(pid):
    """(user, system) µs of all of `pid`'s threads so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = 1_000_000 / os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * tick, int(fields[12]) * tick


def status(state):
    """The primary's ReplicationStatus: what `buse status --state DIR --json` prints, read from the same socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(os.path.join(state, "control.sock"))
        s.sendall(b"status\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return json.loads(answer)


def wait_for(state, predicate, what, timeout=SYNC_TIMEOUT_S):
    """Polls the primary's status until `predicate(status)`; returns that status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            current = status(state)
            if predicate(current):
                return current
        except (OSError, ValueError):
            pass  # the control socket is not there yet
        time.sleep(POLL_S)
    raise RuntimeError(f"the primary did not reach {what} within {timeout} s")


def in_sync(current):
    return current["peerState"] == "in-sync"


class Pair:
    """A primary serving `image` replicated to a replica on `replica_image`, each with a fresh state folder."""

    def __init__(self, args, image, replica_image, workdir, psk=None):
        self.args, self.workdir = args, workdir
        self.link = ["--peer-psk", psk] if psk else []
        self.replica_image = replica_image
        self.primary_state = tempfile.mkdtemp(prefix="primary-", dir=workdir)
        self.replica_state = tempfile.mkdtemp(prefix="replica-", dir=workdir)
        self.replica, self.primary = None, None
        try:
            self.replica = self.start_replica()
            command = lambda address: primary_command(args.buse, image, address, self.replica.port, self.primary_state) \
                + self.link
            self.primary = Server("primary", command, workdir, args.transport)
        except BaseException:
            self.stop()
            raise

    def start_replica(self, port=None):
        return Replica(self.args.buse, self.replica_image, self.replica_state, self.workdir, self.args.size_mib, port,
                       extra=self.link)

    def wait_in_sync(self):
        return wait_for(self.primary_state, in_sync, "in-sync")

    def stop(self):
        statuses = []
        if self.primary:
            statuses.append(("primary", self.primary.stop()))
        if self.replica:
            statuses.append(("replica", self.replica.stop()))
        for name, code in statuses:
            if code not in (0, -signal.SIGTERM):
                print(f"  ! {name} exited with status {code} after SIGTERM", file=sys.stderr)
        for state in (self.primary_state, self.replica_state):
            shutil.rmtree(state, ignore_errors=True)


def primary_command(buse, image, address, replica_port, state):
    kind, where = address
    listen = ["--listen", f"127.0.0.1:{where}"] if kind == "tcp" else ["--unix", where]
    return [buse, "serve", "--export", f"{EXPORT}=file:{image}", *listen,
            "--replicate-to", f"127.0.0.1:{replica_port}", "--state", state]


def plain_command(buse, uri, address):
    kind, where = address
    listen = ["--listen", f"127.0.0.1:{where}"] if kind == "tcp" else ["--unix", where]
    return [buse, "serve", "--export", f"{EXPORT}={uri}", *listen]


# ---------------------------------------------------------------- client writes

def measure_writes(name, workload, args, paths, workdir):
    """One fio run against a fresh unreplicated server or a fresh, in-sync pair."""
    options = lambda server: ["--ioengine=nbd", f"--uri={server.uri}", *workload_options(workload, args.runtime)]
    if name == "buse":
        server = Server("buse", lambda address: plain_command(args.buse, f"file:{paths['image']}", address), workdir,
                        args.transport)
        processes = [server]
        stop = server.stop
    else:
        pair = Pair(args, paths["image"], paths["replica"], workdir, psk=paths["psk"] if name == "replicated-psk" else None)
        stop = pair.stop
        try:
            pair.wait_in_sync()
        except BaseException:
            stop()
            raise
        server = pair.primary
        processes = [pair.primary, pair.replica]
    try:
        if args.replication_warmup > 0:
            warmup = ["--ioengine=nbd", f"--uri={server.uri}", *workload_options(workload, args.replication_warmup)]
            run_fio(f"{workload.name}-warmup", warmup, args.replication_warmup, workdir, server)
        before = [cpu_us(p.process.pid) for p in processes]
        job, _ = run_fio(workload.name, options(server), args.runtime, workdir, server)
        after = [cpu_us(p.process.pid) for p in processes]
        peaks = [status_kib(p.process.pid, "VmHWM") / 1024 for p in processes]
        rss = sum(peaks)
        degraded = status(pair.primary_state)["writesDegraded"] if name != "buse" else 0
    finally:
        stop()
    if degraded:
        raise RuntimeError(f"{degraded} writes went unreplicated during the run (the peer dropped out)")
    cpu = (sum(a[0] - b[0] for a, b in zip(after, before)), sum(a[1] - b[1] for a, b in zip(after, before)))
    result = measured(workload, job, args.runtime, cpu, rss, None)
    flushes = job.get("sync", {}).get("total_ios", 0) if "--fsync=1" in workload.fio_options else 0
    result["flush_lat_us"] = job["sync"]["lat_ns"]["mean"] / 1000 if flushes else float("nan")
    # The replica's own share: the least a second copy adds to the machine's work per write.
    replica_us = sum(after[-1]) - sum(before[-1]) if name != "buse" else float("nan")
    result["replica_cpu_us_per_io"] = replica_us / result["ios"] if result["ios"] else float("nan")
    # The primary alone (issue 15's bar is on it): its CPU beside the plain server's, its own peak RSS.
    result["primary_cpu_us_per_io"] = result["cpu_us_per_io"] - (result["replica_cpu_us_per_io"] if name != "buse" else 0)
    result["primary_peak_rss_mib"] = peaks[0]
    return result


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def run_writes(args, paths, workdir):
    contenders = CONTENDERS if args.replication_psk == "yes" else [c for c in CONTENDERS if c != "replicated-psk"]
    return run_rotated(
        WORKLOADS, contenders, args.reps, lambda name, workload: measure_writes(name, workload, args, paths, workdir),
        label_prefix="replication ", label_width=52, extra=lambda r: f" {r['cpu_us_per_io']:>7.2f} CPU µs/IO")


# ---------------------------------------------------------------- resync and nbdcopy

def measure_resync(args, paths, workdir):
    """Pairs (untimed full copy), stops the replica, writes the first N MiB, restarts it, times the resync."""
    length = args.replication_resync_mib << 20
    pair = Pair(args, paths["image"], paths["replica"], workdir)
    try:
        pair.wait_in_sync()
        pair.replica.stop()
        wait_for(pair.primary_state, lambda s: not in_sync(s), "the peer's loss", 30)
        fill = ["--ioengine=nbd", f"--uri={pair.primary.uri}", "--rw=write", "--bs=1m", "--iodepth=16",
                f"--size={args.replication_resync_mib}m", "--offset=0"]
        run_fio("resync-fill", fill, 120, workdir)
        pending = status(pair.primary_state)
        log_start = os.path.getsize(pair.replica.log_path)
        pair.replica = pair.start_replica(port=pair.replica.port)  # the primary reconnects to the same port
        procs = [pair.primary.process.pid, pair.replica.process.pid]
        # Timed on the replica's log (stderr, unbuffered), read every millisecond: asking the primary's
        # control socket that often would slow the resync it measures (each status reads the log).
        log = LogWatcher(pair.replica.log_path, log_start)
        t0 = log.wait_for(b"connected\n", SYNC_TIMEOUT_S)  # the primary's hello: the pairing starts
        cpu0 = [sum(cpu_us(p)) for p in procs]
        t1 = log.wait_for(b"in sync with the primary", SYNC_TIMEOUT_S)  # the primary's resync-done
        seconds = t1 - t0
        cpu = sum(sum(cpu_us(p)) for p in procs) - sum(cpu0)
        wait_for(pair.primary_state, in_sync, "in-sync")
        total = resync_total(pair.primary.log_path)
    finally:
        pair.stop()
    if total != length:
        raise RuntimeError(f"the resync copied {total} bytes, not the {length} written meanwhile "
                           f"(status before the replica came back: {json.dumps(pending)})")
    return {"seconds": seconds, "mbps": length / seconds / 1e6, "cpu_s": cpu / 1e6, "bytes": total}


class LogWatcher:
    """Follows a log file from `offset`; `wait_for` returns the monotonic time a text first appears."""

    def __init__(self, path, offset):
        self.path, self.offset, self.text = path, offset, b""

    def wait_for(self, needle, timeout, interval=0.001):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.getsize(self.path) > self.offset:
                with open(self.path, "rb") as f:
                    f.seek(self.offset)
                    more = f.read()
                self.offset += len(more)
                self.text += more
                if needle in self.text:
                    now = time.monotonic()
                    self.text = self.text[self.text.index(needle) + len(needle):]
                    return now
            time.sleep(interval)
        raise RuntimeError(f"{self.path} did not say {needle.decode()!r} within {timeout} s")


def resync_total(primary_log):
    """The bytes of the primary's last resync, from its "resyncing N bytes" line."""
    with open(primary_log, errors="replace") as f:
        lines = [line for line in f if "replication: resyncing " in line]
    return int(lines[-1].split("replication: resyncing ")[1].split()[0]) if lines else None


def window_command(kind, buse, image, length, address):
    """A server exporting exactly [0, length) of `image` at `address`."""
    _, where = address
    if kind == "buse":
        return plain_command(buse, f"file:{image}?offset=0&length={length}", address)
    listen = ["-i", "127.0.0.1", "-p", str(where)] if address[0] == "tcp" else ["-U", where]
    return ["nbdkit", "-f", *listen, "--filter=offset", "file", image, f"range={length}"]


def measure_nbdcopy(kind, args, paths, workdir):
    """nbdcopy of [0, N MiB) of the source image to [0, N MiB) of the target image."""
    length = args.replication_resync_mib << 20
    servers = []
    try:
        for role, image in (("source", paths["image"]), ("target", paths["target"])):
            servers.append(Server(f"{kind}-{role}", lambda address, image=image: window_command(
                kind, args.buse, image, length, address), workdir, "tcp"))
        cpu0 = [sum(cpu_us(s.process.pid)) for s in servers]
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        copy = subprocess.run(["nbdcopy", "--flush", servers[0].uri, servers[1].uri], capture_output=True, text=True,
                              timeout=300, preexec_fn=lambda: die_with_parent(signal.SIGKILL))
        seconds = time.monotonic() - t0
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(sum(cpu_us(s.process.pid)) for s in servers) - sum(cpu0)
    finally:
        for s in servers:
            s.stop()
    if copy.returncode != 0:
        raise RuntimeError(f"nbdcopy exited {copy.returncode}: {copy.stderr.strip()[-1500:]}")
    copier = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    return {"seconds": seconds, "mbps": length / seconds / 1e6, "cpu_s": cpu / 1e6 + copier, "bytes": length}


def run_copies(args, paths, workdir):
    copiers = args.replication_copiers_list
    results = {c: [] for c in copiers}
    errors = []
    if not copiers:  # --replication-copiers "": no resync comparison
        return results, errors
    for rep in range(args.reps):
        order = copiers[rep % len(copiers):] + copiers[:rep % len(copiers)]
        for name in order:
            label = f"replication {args.replication_resync_mib} MiB rep {rep + 1}/{args.reps} {name}"
            try:
                if name == "resync":
                    r = measure_resync(args, paths, workdir)
                else:
                    r = measure_nbdcopy(name.split("-", 1)[1], args, paths, workdir)
            except (RuntimeError, OSError, KeyError, ValueError, subprocess.TimeoutExpired) as error:
                print(f"  {label}: FAILED: {error}", flush=True)
                errors.append(f"{label}: {error}")
                continue
            results[name].append(r)
            print(f"  {label:52} {r['seconds']:>7.3f} s {r['mbps']:>8.1f} MB/s {r['cpu_s']:>6.2f} CPU s", flush=True)
    return results, errors


# ---------------------------------------------------------------- section

def precondition(path, size_mib):
    """Writes the whole file once with incompressible data, so every page is there and reads hit data."""
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(chunk)


def run_section(args, env, workdir_parent):
    """The whole replication comparison. Returns (markdown, data)."""
    workdir = tempfile.mkdtemp(prefix=f"buse-bench-{os.getpid()}-replication-", dir=workdir_parent)
    try:
        paths = {name: os.path.join(workdir, f"{name}.img") for name in ("image", "replica", "target")}
        print(f"writing {args.size_mib} MiB to {paths['image']}, {paths['replica']} and {paths['target']} ...",
              flush=True)
        for path in paths.values():
            precondition(path, args.size_mib)
        paths["psk"] = os.path.join(workdir, "peer.psk")
        if args.replication_psk == "yes":
            subprocess.run(["psktool", "-u", "buse", "-p", paths["psk"]], check=True, stdout=subprocess.DEVNULL)
        before = load_average()
        writes, errors = run_writes(args, paths, workdir) if args.replication_writes == "yes" else ({}, [])
        floor = None
        if args.replication_writes == "yes" and args.replication_floor == "yes":
            floor = replication_floor.run(workdir, args.runtime, args.reps)
        copies, copy_errors = run_copies(args, paths, workdir)
        after = load_average()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report(args, env, writes, floor, copies, errors + copy_errors, before, after)


def load_average():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


# ---------------------------------------------------------------- report

QD1 = replication_floor.QD1_WORKLOAD


def write_bars(summary, floor):
    verdicts = []
    for text, workload, metric, kind, bound in BARS:
        if workload not in summary:
            continue
        buse, replicated = summary[workload].get("buse"), summary[workload].get("replicated")
        if not buse or not replicated or not buse[metric]:
            verdicts.append((text, "n/a", ""))
            continue
        r = replicated[metric] / buse[metric]
        met = r >= bound if kind == "min" else r <= bound
        detail = f"{r:.2f}×" + (iodepth_one_floor(floor, "latency", bound) if workload == QD1 else "")
        verdicts.append((text, "met" if met else "NOT met", detail))
    return verdicts


def iodepth_one_floor(floor, metric, bound):
    """The C floor's ratio for one iodepth-1 bar at each poll length it was measured with, and whether a
    poll length exists at which the floor meets both iodepth-1 bars (lowering one by polling less raises
    the other, so neither alone says whether the pair is in reach)."""
    polls = (floor or {}).get(QD1)
    if not polls:
        return ""
    parts = ", ".join(f"{'readers blocking' if poll == 0 else f'polling {poll} µs'} {ratios[metric]:.2f}×"
                      for poll, ratios in polls.items())
    detail = f"; C floor of buse's shape: {parts}"
    if all(ratios[metric] > bound for ratios in polls.values()):
        detail += ", above the bar at every poll"
    if not any(all(ratios[m] <= b for m, b in QD1_BOUNDS.items()) for ratios in polls.values()):
        detail += "; at no poll does the floor meet both iodepth-1 bars"
    return detail


# Issue 15's bars, per I/O so that they hold on any machine: (text, workload, value of the run pair
# (unreplicated u, replicated r) or None, bound, the same ratio of the C floor (replication_floor.py) or
# None); met when value <= bound.
EFFICIENCY_BARS = [
    ("primary's CPU per replicated 4K write at iodepth 16 <= 1.5x the unreplicated server's", "4k-randwrite-qd16",
     lambda u, r: r["primary_cpu_us_per_io"] / u["cpu_us_per_io"], 1.5, "primary"),
    ("replica's CPU per 4K write at iodepth 16 <= the unreplicated server's", "4k-randwrite-qd16",
     lambda u, r: r["replica_cpu_us_per_io"] / u["cpu_us_per_io"], 1.0, "replica"),
    ("machine CPU per replicated 4K write at iodepth 16 <= 1.15x (unreplicated + replica's share)", "4k-randwrite-qd16",
     lambda u, r: r["machine_cpu_us_per_io"] / (u["machine_cpu_us_per_io"] + r["replica_cpu_us_per_io"]), 1.15,
     "machine"),
    ("machine CPU per replicated 1M write at iodepth 16 <= 1.15x (unreplicated + replica's share)", "1m-seqwrite-qd16",
     lambda u, r: r["machine_cpu_us_per_io"] / (u["machine_cpu_us_per_io"] + r["replica_cpu_us_per_io"]), 1.15,
     "machine"),
    ("CPU per 4K write at iodepth 1 (primary + replica) <= 2.5x unreplicated", "4k-randwrite-qd1",
     lambda u, r: r["cpu_us_per_io"] / u["cpu_us_per_io"], 2.5, None),
    ("peak RSS of the replicated primary at 4K iodepth 16 <= 64 MiB (the full copy included)", "4k-randwrite-qd16",
     lambda u, r: r["primary_peak_rss_mib"] / 64, 1.0, None),
]

# The two iodepth-1 bars' bounds under the floor's names for their ratios, read from the tables above.
QD1_BOUNDS = {
    "latency": next(bound for _, workload, metric, _, bound in BARS if workload == QD1 and metric == "lat_us"),
    "cpu": next(bound for _, workload, _, bound, _ in EFFICIENCY_BARS if workload == QD1),
}


def efficiency_bars(summary, floor):
    """Each bar's verdict; its detail adds the C floors' ratios when measured (buse's shape, and a one-thread
    primary), and says when a floor misses the bar: then no server of that shape meets it on this machine."""
    verdicts = []
    for text, workload, value, bound, floor_key in EFFICIENCY_BARS:
        u, r = (summary.get(workload) or {}).get("buse"), (summary.get(workload) or {}).get("replicated")
        if not u or not r:
            continue
        v = value(u, r)
        if math.isnan(v):
            verdicts.append((text, "n/a", ""))
            continue
        detail = f"{r['primary_peak_rss_mib']:.1f} MiB" if "RSS" in text else f"{v:.2f}×"
        shapes = (floor or {}).get(workload, {}) if floor_key else {}
        if shapes:
            own, other = shapes["replicated"][floor_key], shapes["one-thread"][floor_key]
            detail += f"; C floor {own:.2f}×, one-thread C floor {other:.2f}×"
            if min(own, other) > bound:
                detail += ", both above the bar"
            elif own > bound:
                detail += ", buse's shape's floor above the bar"
        if workload == QD1:
            detail += iodepth_one_floor(floor, "cpu", bound)
        verdicts.append((text, "met" if v <= bound else "NOT met", detail))
    return verdicts


def copy_bars(summary, length_mib):
    verdicts = []
    for peer in ("nbdcopy-nbdkit", "nbdcopy-buse"):
        if peer not in summary:
            continue
        text = f"resync of {length_mib} MiB >= {RESYNC_BAR}x the MB/s of {peer}"
        resync, other = summary.get("resync"), summary[peer]
        if not resync or not other:
            verdicts.append((text, "n/a", ""))
            continue
        r = resync["mbps"] / other["mbps"]
        verdicts.append((text, "met" if r >= RESYNC_BAR else "NOT met", f"{r:.2f}×"))
    return verdicts


def machine_ceilings(summary):
    """For each throughput workload, the best replicated / unreplicated ratio this machine's cores allow.

    A replicated write costs the machine at least U, what an unreplicated one costs (the same client, a
    primary that does all a plain server does and more), plus R, the replica's own work. So replicated
    throughput is at most the cores' capacity / (U + R), while the unreplicated run reached its busy
    share b of that capacity / U: the ratio is at most U / (b × (U + R)). Near b = 1 (a run bound by the
    cores) this is what no tuning of the primary can beat; with idle cores it says little.
    """
    lines = []
    for w in [w for w in WORKLOADS if w.name in summary and w.iodepth > 1]:
        b, r = summary[w.name].get("buse"), summary[w.name].get("replicated")
        if not b or not r or math.isnan(b["machine_busy_pct"]) or math.isnan(r["replica_cpu_us_per_io"]):
            continue
        unreplicated, replica, busy = b["machine_cpu_us_per_io"], r["replica_cpu_us_per_io"], b["machine_busy_pct"] / 100
        ceiling = unreplicated / (busy * (unreplicated + replica))
        lines.append(f"- {w.name}: at most {unreplicated:.1f} / ({busy:.2f} × ({unreplicated:.1f} + {replica:.1f})) "
                     f"= {ceiling:.2f} (machine {100 * busy:.0f}% busy unreplicated, "
                     f"{r['machine_busy_pct']:.0f}% replicated)")
    if not lines:
        return []
    return ["Ceiling from the cores: a replicated write costs the machine at least an unreplicated one (machine "
            "CPU µs/IO, U) plus the replica's work (R), so with the unreplicated run b busy, replicated / "
            "unreplicated ≤ U / (b × (U + R)):", "", *lines, ""]


def report(args, env, writes, floor, copies, errors, load_before, load_after):
    write_summary = {w: {c: medians(runs) for c, runs in by.items()} for w, by in writes.items()}
    copy_summary = {c: medians(runs) for c, runs in copies.items()}
    rows = []
    for w in [w for w in WORKLOADS if w.name in write_summary]:
        m = write_summary[w.name]
        for metric, label, spec in (("iops", "IOPS", ".0f"), ("mbps", "MB/s", ".1f"), ("lat_us", "mean clat µs", ".1f"),
                                    ("flush_lat_us", "mean flush µs", ".1f"),
                                    ("cpu_us_per_io", "CPU µs/IO", ".2f"), ("replica_cpu_us_per_io", "of which replica", ".2f"),
                                    ("primary_cpu_us_per_io", "of which primary", ".2f"),
                                    ("machine_cpu_us_per_io", "machine CPU µs/IO", ".2f"),
                                    ("machine_busy_pct", "machine busy %", ".0f"), ("peak_rss_mib", "peak RSS MiB", ".1f"),
                                    ("primary_peak_rss_mib", "primary's peak RSS MiB", ".1f")):
            b, r = (m["buse"] or {}).get(metric), (m["replicated"] or {}).get(metric)
            t = (m.get("replicated-psk") or {}).get(metric)
            b = None if b is not None and math.isnan(b) else b
            if metric == "flush_lat_us" and b is None:
                continue  # a workload without flushes
            rows.append([w.name, label, fmt(b, spec), fmt(r, spec), fmt(r / b if b and r else None, ".2f"),
                         fmt(t, spec), fmt(t / r if t and r else None, ".2f")])
    ceilings = machine_ceilings(write_summary)
    copy_rows = []
    resync = copy_summary.get("resync")
    for c in args.replication_copiers_list:
        m = copy_summary.get(c)
        if not m:
            copy_rows.append([c, "failed", "", "", ""])
            continue
        ratio = resync["mbps"] / m["mbps"] if resync and c != "resync" else None
        copy_rows.append([c, f"{m['seconds']:.3f}", f"{m['mbps']:.0f}", f"{m['cpu_s']:.2f}", fmt(ratio, ".2f")])
    writes_text = ["### Client writes (median; ratio = replicated / buse; psk ratio = replicated-psk / replicated)", "",
                   markdown_table(["workload", "metric", "buse", "replicated", "ratio", "replicated-psk", "psk ratio"],
                                  rows), "",
                   *ceilings] if rows else []
    copies_text = [
        f"### Resync of {args.replication_resync_mib} MiB beside nbdcopy (median; ratio = resync MB/s / its MB/s)",
        "",
        f"resync: the replica stopped (SIGTERM), the first {args.replication_resync_mib} MiB written through the "
        "primary (1M sequential, iodepth 16), the replica started again; timed on the replica's log from the "
        "primary's hello (\"connected\", so reconnect backoff is not counted) to the end of the resync (\"in sync "
        "with the primary\", after the copy and its peer flushes), then `buse status` checked to say in-sync, "
        "with the primary's resync total "
        f"checked to be exactly {args.replication_resync_mib} MiB. nbdcopy: `nbdcopy --flush` (defaults otherwise) "
        f"from an export of exactly [0, {args.replication_resync_mib} MiB) of the same source file to one of a "
        "preconditioned target file, both over loopback TCP, by `nbdkit file --filter=offset` or by `buse serve "
        "file:…?offset=0&length=…`; timed from nbdcopy's start to its exit. Resync makes one TCP hop (primary → "
        "replica), nbdcopy two (source server → nbdcopy → target). CPU s: every process taking part.",
        "",
        markdown_table(["contender", "seconds", "MB/s", "CPU s", "resync/this"], copy_rows),
        "",
    ] if copy_rows else []
    verdicts = write_bars(write_summary, floor) + efficiency_bars(write_summary, floor) + copy_bars(copy_summary, args.replication_resync_mib)
    text = [
        "## Replication: replicated beside unreplicated buse, resync beside nbdcopy",
        "",
        f"fio {env.get('fio', '?')} nbd engine over {args.transport} loopback; {args.size_mib} MiB files on tmpfs; "
        f"{args.runtime} s per run, median of {args.reps}; load average before {' '.join(load_before)}, "
        f"after {' '.join(load_after)}. \"replicated\": `buse serve --replicate-to` with a `buse replica` on a second "
        "tmpfs file over loopback TCP, both fresh for each run and in sync before fio starts; \"buse\": `buse serve`, "
        "no replication. Each timed run follows "
        f"{args.replication_warmup} s of the same workload on the same server or pair, untimed (a fresh pair's first "
        "write to each 1 MiB region waits for an activity-log sync on both nodes). CPU µs/IO and peak RSS of the "
        "replicated runs are the primary's and the replica's together (peak RSS includes the untimed full copy).",
        "",
        *writes_text,
        *copies_text,
        "### Bars",
        "",
        *[f"- {verdict:7} {t}" + (f" ({detail})" if detail else "") for t, verdict, detail in verdicts],
    ]
    if errors:
        text += ["", "### Failed runs", "", *[f"- {e}" for e in errors]]
    data = {"writes": writes, "floor": floor, "copies": copies, "write_medians": write_summary,
            "copy_medians": copy_summary,
            "errors": errors, "bars": [{"bar": t, "verdict": v, "detail": d} for t, v, d in verdicts]}
    return "\n".join(text) + "\n", data


if __name__ == "__main__":
    sys.exit("run bench/run.py --replication")
