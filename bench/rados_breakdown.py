#!/usr/bin/env python3
"""Where buse's own CPU goes per write to a RADOS image: by thread, and by library.

Issue 15 asks for buse's CPU per 4K RADOS write to fall to 35 µs and per
1 MiB write to 450 µs. This shows where it goes today: buse serves
`rados:POOL/IMAGE` (a fresh image, preconditioned over --region-mib), fio's
nbd engine writes at iodepth 16 for --runtime s, and `perf record -p`
samples only the buse process at --frequency Hz over the middle --sample s.
Each sample is put in a row by the kind of thread it ran on (librados'
messenger, librados' completion pool, Swift's cooperative pool, buse's own
connection threads, named by buse) and in a column by the library its leaf frame is in. A
cell's µs per write is its samples over the frequency, divided by the
writes fio completed in the sampled window; the total is checked against
the process's CPU time from /proc.

Needs root (perf), fio, a running cluster (scripts/ceph-cluster.sh start
DIR; pass its ceph.conf) and a release build.

After each workload it runs bench/rados_floor.c (built here with cc, -lrados)
twice, with the same block size, depth and region: "direct" (librados' C API
in one process with no NBD, the least any client of that API spends per
write) and "served" (a C server of buse's shape over loopback TCP, the least
an NBD server on librados built like buse spends). buse's figure beside them
says what NBD and buse's own code add.

Usage: python3 bench/rados_breakdown.py --buse .build/release/buse --conf /tmp/buse-ceph/ceph.conf
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
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rados_floors  # noqa: E402
from common import die_with_parent, free_port, perf_leaf_samples  # noqa: E402

THREADS = [  # (pattern on the thread's name, row); buse names its own threads (SystemThread.start)
    (r"^msgr-worker", "librados messenger (msgr-worker)"),
    (r"^io_context_poo|^ceph_timer|^finisher|^safe_timer|^taskfin", "librados completions and timers"),
    (r"^nbd-connection", "buse: NBD connection (reads requests)"),
    (r"^socket-writer", "buse: socket writer (replies)"),
    (r"qos", "Swift cooperative pool (request tasks, completions)"),
    (r"", "other"),
]
LIBRARIES = [  # (pattern on the leaf frame's "symbol (dso)", column)
    (r"\[kernel\.kallsyms\]", "kernel"),
    (r"librados|libceph-common|libstdc\+\+|libboost", "librados and Ceph"),
    (r"malloc|_int_free|cfree|unlink_chunk|malloc_consolidate", "malloc"),
    (r"memmove|memcpy|memset", "memcpy"),
    (r"libc\.so", "libc, other"),
    (r"libswift", "Swift runtime"),
    (r"", "buse and other"),
]
WORKLOADS = {"4k-randwrite-qd16": ("randwrite", "4k"), "1m-seqwrite-qd16": ("write", "1M")}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_names(pid):
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names[int(tid)] = f.read().strip()
        except OSError:
            pass
    return names


def measure(args, workload, workdir):
    rw, block = WORKLOADS[workload]
    image = f"{args.pool}/breakdown-{uuid.uuid4().hex[:8]}"
    subprocess.run([args.buse, "image", "create", image, "--size", f"{args.region_mib * 2}M", "--conf", args.conf],
                   check=True, capture_output=True)
    port = free_port()
    log = open(os.path.join(workdir, f"{workload}.log"), "wb")
    server = subprocess.Popen([args.buse, "serve", "--export", f"bench=rados:{image}?conf={args.conf}",
                               "--listen", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                              preexec_fn=die_with_parent)
    try:
        uri = f"nbd://127.0.0.1:{port}/bench"
        deadline = time.monotonic() + 60
        while subprocess.run(["nbdinfo", "--size", uri], capture_output=True).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"buse did not start; see {log.name}")
            time.sleep(0.1)
        subprocess.run(["fio", "--name=pre", "--ioengine=nbd", f"--uri={uri}", "--rw=write", "--bs=4M",
                        "--iodepth=4", f"--size={args.region_mib}M"], check=True, capture_output=True)
        output = os.path.join(workdir, f"{workload}.json")
        fio = subprocess.Popen(["fio", "--name=w", "--ioengine=nbd", f"--uri={uri}", f"--rw={rw}", f"--bs={block}",
                                "--iodepth=16", f"--size={args.region_mib}M", "--time_based",
                                f"--runtime={args.runtime}", "--output-format=json", f"--output={output}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep((args.runtime - args.sample) / 2)
        names = thread_names(server.pid)
        data = os.path.join(workdir, f"{workload}.data")
        before = cpu_seconds(server.pid)
        subprocess.run(["perf", "record", "-p", str(server.pid), "-F", str(args.frequency), "-o", data, "--",
                        "sleep", str(args.sample)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        after = cpu_seconds(server.pid)
        names.update(thread_names(server.pid))
        fio.wait()
        job = json.load(open(output))["jobs"][0]["write"]
        writes = job["iops"] * args.sample
        return classify(data, names, writes, args), (after - before) * 1e6 / writes, job["iops"]
    finally:
        server.terminate()
        server.wait()
        subprocess.run([args.buse, "image", "rm", image, "--conf", args.conf], capture_output=True, check=True)


def floor(args, workload, binary, mode):
    """The floor's CPU per write and writes/s ('direct' or 'served'), for the same block size, depth and
    region as buse's run."""
    _, block = WORKLOADS[workload]
    size = {"4k": 4096, "1M": 1 << 20}[block]
    return rados_floors.run(binary, mode, args.conf, args.pool, args.sample, size, args.region_mib)


def classify(data, names, writes, args):
    threads = [(re.compile(p), row) for p, row in THREADS]
    libraries = [(re.compile(p), column) for p, column in LIBRARIES]
    cells = collections.Counter()
    for tid, leaf in perf_leaf_samples(data, "tid"):
        row = next(row for pattern, row in threads if pattern.search(names.get(tid, "")))
        column = next(column for pattern, column in libraries if pattern.search(leaf))
        cells[(row, column)] += 1
    return {cell: count / args.frequency * 1e6 / writes for cell, count in cells.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buse", required=True)
    parser.add_argument("--conf", required=True, help="ceph.conf of a running cluster")
    parser.add_argument("--pool", default="buse")
    parser.add_argument("--region-mib", type=int, default=512)
    parser.add_argument("--runtime", type=float, default=14)
    parser.add_argument("--sample", type=float, default=8)
    parser.add_argument("--frequency", type=int, default=1999)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="buse-rados-breakdown-")
    try:
        floor_binary = rados_floors.build(workdir)
        for workload in args.workloads.split(","):
            cells, proc_us, iops = measure(args, workload, workdir)
            floors = {mode: floor(args, workload, floor_binary, mode) for mode in ("direct", "served")}
            rows = [row for _, row in THREADS]
            columns = [column for _, column in LIBRARIES]
            print(f"\n{workload}: {iops:.0f} IOPS; buse's CPU per write {proc_us:.1f} µs (/proc), "
                  f"{sum(cells.values()):.1f} µs sampled\n")
            print("| thread | " + " | ".join(columns) + " | total |")
            print("|---|" + "---:|" * (len(columns) + 1))
            for row in rows:
                values = [cells.get((row, column), 0) for column in columns]
                print(f"| {row} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {sum(values):.1f} |")
            totals = [sum(cells.get((row, column), 0) for row in rows) for column in columns]
            print("| **total** | " + " | ".join(f"**{t:.1f}**" for t in totals) + f" | **{sum(totals):.1f}** |")
            print("\nFloors (bench/rados_floor.c, the same cluster, block size, depth and region, right after):")
            for mode, what in (("direct", "librados' C API alone, no NBD"),
                               ("served", "a C server of buse's shape: one reader, replies from librados' callbacks")):
                floor_us, floor_rate = floors[mode]
                print(f"- {mode} ({what}): {floor_us:.1f} µs per write at {floor_rate:.0f} writes/s; "
                      f"buse / {mode} {proc_us / floor_us:.2f}, buse beyond it {proc_us - floor_us:.1f} µs", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
