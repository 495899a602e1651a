#!/usr/bin/env python3
"""Where the CPU of a write goes: unreplicated buse, and a replicated primary and its replica.

How: a fresh server (or a primary with `--replicate-to` a `buse replica`, in
sync before fio starts) on a 1 GiB tmpfs file, allocated beforehand; fio's nbd engine writes
--bs blocks (4k) in --rw order (randwrite; `--bs 1m --rw write` is issue 15's 1M row)
at --iodepth over loopback TCP for --runtime s; meanwhile
`perf record -a -g` samples every CPU at --frequency Hz for the middle
--sample s. Each sample of a buse process is put in one phase by the
leaf-most frame of its call stack that names one (the table PHASES below:
the CRC32C of the payload, the local pwrite, the journal, the link reader,
the frame to the peer, the range lock, system calls by name, the Swift
runtime). A phase's µs per write is its share of the process's samples times
the process's CPU per write (samples / frequency / writes in the window).

Caveats: libc is built without frame pointers, so a sample inside malloc,
recv or sendmsg has no caller above libc; those are grouped by system call
(`sendmsg` on the primary is both the reply to the client and the frame to
the peer, told apart by comparing with the unreplicated server's sendmsg).
Interrupts and softirqs (loopback's receive path runs in the sender's
softirq) count where they land. Machine noise moves the totals; shares move
much less. Needs root (perf), fio and a release build.

Usage: python3 bench/write_breakdown.py --buse .build/release/buse [--runtime 12] [--sample 8] [--bs 1m --rw write]
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import die_with_parent, free_port  # noqa: E402

PHASES = [  # (pattern, phase): per sample, the leaf-most frame matching any pattern decides, in this order
    (r"crc32c", "CRC32C of the payload"),
    (r"__libc_pwrite|__x64_sys_pwrite64|FileDevice", "local write (pwrite)"),
    (r"mdb_|liblmdb|Journal|ActivityLog", "journal and activity log (LMDB)"),
    (r"PeerLink\.receive|PendingAnswer|TCPChannel\.readLoop|ReplicaSession|ReplicaNode", "link reader: frames in, answers matched"),
    (r"PeerLink\.begin|TCPChannel\.send|TCPChannel\.message", "frame to the peer (before sendmsg)"),
    (r"RangeLock|ReplicatedDevice\.complete|replicateLocked|ReplicatedDevice\.write", "range lock and write bookkeeping"),
    (r"__x64_sys_sched_yield|__sched_yield", "polling (sched_yield)"),
    (r"__x64_sys_futex|futex_", "futex"),
    (r"__x64_sys_epoll|epoll_wait", "epoll"),
    (r"__x64_sys_sendmsg|__libc_sendmsg|SocketWriter", "sendmsg"),
    (r"__x64_sys_recvfrom|__libc_recv|ReadAheadBuffer", "recv"),
    (r"Transmission|Request\.decode|NBDProtocol", "NBD request handling"),
    (r"finish_task_switch|__schedule|asm_sysvec|irqentry|handle_softirqs|net_rx_action", "context switches and interrupts"),
    (r"swift_task|swift_job|AsyncTask|Continuation|StackAllocator|withStatusRecordLock", "Swift tasks and continuations"),
    (r"malloc|_int_free|cfree|unlink_chunk|swift_retain|swift_release|swift_alloc|swift_dealloc|RefCounts",
     "malloc and reference counting"),
]


def start(command, log, ready, timeout=60):
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent)
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{command[:2]} did not start; see {log.name}")
        time.sleep(0.05)
    return process


def in_sync(buse, state):
    result = subprocess.run([buse, "status", "--state", state, "--json"], capture_output=True, text=True)
    return result.returncode == 0 and json.loads(result.stdout).get("peerState") == "in-sync"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(args, replicated, workdir):
    primary_image, replica_image = os.path.join(workdir, "p.img"), os.path.join(workdir, "r.img")
    for image in (primary_image, replica_image):
        with open(image, "wb") as f:
            # Allocated up front, as the replication bench preconditions: a
            # write into a hole of tmpfs allocates and zeroes a page first.
            os.posix_fallocate(f.fileno(), 0, 1 << 30)
    port = free_port()
    processes = []
    try:
        if replicated:
            replica_port = free_port()
            log_path = os.path.join(workdir, "replica.log")
            log = open(log_path, "wb")
            processes.append(("replica", start(
                [args.buse, "replica", "--listen", f"127.0.0.1:{replica_port}", "--device", f"file:{replica_image}",
                 "--state", os.path.join(workdir, "replica-state")], log,
                lambda: b" listening on " in open(log_path, "rb").read())))
            state = os.path.join(workdir, "primary-state")
            primary = start([args.buse, "serve", "--export", f"bench=file:{primary_image}", "--listen",
                             f"127.0.0.1:{port}", "--replicate-to", f"127.0.0.1:{replica_port}", "--state", state],
                            open(os.path.join(workdir, "primary.log"), "wb"), lambda: in_sync(args.buse, state))
            processes.insert(0, ("primary", primary))
        else:
            log_path = os.path.join(workdir, "server.log")
            processes.append(("unreplicated", start(
                [args.buse, "serve", "--export", f"bench=file:{primary_image}", "--listen", f"127.0.0.1:{port}"],
                open(log_path, "wb"), lambda: b"listening" in open(log_path, "rb").read())))
        output = os.path.join(workdir, "fio.json")
        fio = subprocess.Popen(["fio", "--name=w", "--ioengine=nbd", f"--uri=nbd://127.0.0.1:{port}/bench",
                                f"--rw={args.rw}", f"--bs={args.bs}", f"--iodepth={args.iodepth}", "--time_based",
                                f"--runtime={args.runtime}", "--size=1G", "--output-format=json",
                                f"--output={output}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep((args.runtime - args.sample) / 2)  # into the run's steady middle
        before = {name: cpu_seconds(p.pid) for name, p in processes}
        data = os.path.join(workdir, "perf.data")
        subprocess.run(["perf", "record", "-a", "-g", "-F", str(args.frequency), "-o", data, "--", "sleep",
                        str(args.sample)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        after = {name: cpu_seconds(p.pid) for name, p in processes}
        fio.wait()
        job = json.load(open(output))["jobs"][0]["write"]
        writes = job["total_ios"] * args.sample / (job["runtime"] / 1000)  # the sampled window's share
        phases = classify(data, {p.pid: name for name, p in processes})
        return {name: {"cpu_us": (after[name] - before[name]) * 1e6 / writes, "phases": phases.get(name, {}),
                       "iops": job["iops"]} for name, _ in processes}
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            process.wait()


def classify(data, names):
    patterns = [(re.compile(p), phase) for p, phase in PHASES]
    script = subprocess.run(["perf", "script", "-i", data, "-F", "pid,tid,ip,sym,dso"], capture_output=True,
                            text=True, errors="replace").stdout
    counts = collections.defaultdict(collections.Counter)
    for block in script.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        try:
            pid = int(lines[0].split()[0].split("/")[0])
        except (ValueError, IndexError):
            continue
        if pid not in names:
            continue
        phase = next((phase for frame in lines[1:] for pattern, phase in patterns if pattern.search(frame)), "other")
        counts[names[pid]][phase] += 1
    return {name: {phase: count / sum(c.values()) for phase, count in c.items()} for name, c in counts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buse", required=True)
    parser.add_argument("--runtime", type=float, default=12)
    parser.add_argument("--sample", type=float, default=8)
    parser.add_argument("--iodepth", type=int, default=16)
    parser.add_argument("--bs", default="4k", help="fio's block size (default 4k; issue 15's 1M row: 1m with --rw write)")
    parser.add_argument("--rw", default="randwrite", choices=["randwrite", "write"], help="fio's pattern (default randwrite)")
    parser.add_argument("--frequency", type=int, default=2999)
    args = parser.parse_args()
    if shutil.which("perf") is None or shutil.which("fio") is None:
        sys.exit("needs perf and fio")
    workdir = tempfile.mkdtemp(prefix="buse-breakdown-", dir="/dev/shm")
    try:
        results = {}
        results.update(measure(args, False, workdir))
        shutil.rmtree(workdir)
        os.mkdir(workdir)
        results.update(measure(args, True, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    columns = ["unreplicated", "primary", "replica"]
    phases = sorted({p for c in columns for p in results[c]["phases"]},
                    key=lambda p: -results["primary"]["phases"].get(p, 0))
    pattern = "random" if args.rw == "randwrite" else "sequential"
    print(f"{args.bs} {pattern} writes, iodepth {args.iodepth}, µs of CPU per write "
          f"(IOPS: unreplicated {results['unreplicated']['iops']:.0f}, replicated {results['primary']['iops']:.0f})\n")
    print("| phase | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for phase in phases:
        cells = [f"{results[c]['phases'].get(phase, 0) * results[c]['cpu_us']:.2f}" for c in columns]
        print(f"| {phase} | " + " | ".join(cells) + " |")
    print("| **total** | " + " | ".join(f"**{results[c]['cpu_us']:.1f}**" for c in columns) + " |")


if __name__ == "__main__":
    main()
