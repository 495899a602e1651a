#!/usr/bin/env python3
"""NBD over TLS: buse against nbdkit, both requiring TLS with the same PSK file.

Why not fio: fio's nbd engine calls nbd_connect_uri without
nbd_set_uri_allow_local_file, so libnbd refuses the tls-psk-file= (and
tls-certificates=) a TLS URI needs. bench/tlsload.c does what that engine
does (libnbd aio calls, a fixed number in flight, one connection) after
allowing them; it is compiled here with cc and -lnbd (libnbd-dev).

Servers: `buse serve --export bench=memory:1G --tls require --tls-psk FILE`
and `nbdkit --tls=require --tls-psk=FILE memory 1G`, each on a Unix socket,
one fresh process per repetition running every workload in order (writes
first, so reads hit data). Both link GnuTLS with the same priorities, so
they negotiate the same protocol and cipher (buse logs it; printed below).

Per workload: IOPS, MB/s (10^6 bytes), and server CPU µs per I/O
(utime+stime of the server process over the run, 10 ms ticks). The median
over --reps repetitions, servers alternating, is reported with buse/nbdkit.

Usage: python3 bench/tls_bench.py --buse .build/release/buse [--runtime 5] [--reps 3]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import EXPORT, Server, markdown_table  # noqa: E402

WORKLOADS = [  # name, read|write, random|sequential, block size, depth
    ("1m-seqwrite-qd16", "write", "sequential", 1 << 20, 16),
    ("4k-randwrite-qd16", "write", "random", 4096, 16),
    ("4k-randread-qd16", "read", "random", 4096, 16),
    ("1m-seqread-qd16", "read", "sequential", 1 << 20, 16),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buse", required=True)
    parser.add_argument("--runtime", type=float, default=5)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="buse-tls-bench-")
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir):
    keys = os.path.join(workdir, "keys.psk")
    subprocess.run(["psktool", "-u", "alice", "-p", keys], check=True, stdout=subprocess.DEVNULL)
    load = os.path.join(workdir, "tlsload")
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tlsload.c")
    subprocess.run(["cc", "-O2", "-o", load, source, "-lnbd"], check=True)
    commands = {
        "buse": lambda address: [args.buse, "serve", "--export", f"{EXPORT}=memory:1G", "--unix", address[1],
                                 "--tls", "require", "--tls-psk", keys, "--log-level", "info"],
        "nbdkit": lambda address: ["nbdkit", "-f", "--unix", address[1], "--tls=require", f"--tls-psk={keys}",
                                   "memory", "1G"],
    }
    results = {name: {w[0]: [] for w in WORKLOADS} for name in commands}
    cipher = None
    for rep in range(args.reps):
        order = list(commands) if rep % 2 == 0 else list(reversed(commands))
        for name in order:
            server = Server(name, commands[name], workdir, transport="unix")
            try:
                uri = f"nbds+unix://alice@/{EXPORT}?socket={server.address[1]}&tls-psk-file={keys}"
                for workload, rw, pattern, block, depth in WORKLOADS:
                    before = sum(server.cpu_us())
                    out = subprocess.run([load, uri, rw, pattern, str(block), str(depth), str(args.runtime)],
                                         check=True, capture_output=True, text=True).stdout.split()
                    cpu = sum(server.cpu_us()) - before
                    ios, seconds = int(out[0]), float(out[1])
                    results[name][workload].append((ios / seconds, ios * block / seconds / 1e6, cpu / max(ios, 1)))
                    print(f"rep {rep + 1} {name:6} {workload:18} {ios / seconds:9.0f} IOPS {ios * block / seconds / 1e6:8.1f} MB/s "
                          f"{cpu / max(ios, 1):6.1f} µs CPU/IO", flush=True)
            finally:
                server.stop()
            if name == "buse" and cipher is None:
                with open(server.log_path, errors="replace") as f:
                    cipher = next((line.split("tls=")[1].split()[0] for line in f if "TLS established" in line), None)
    rows = []
    for workload, *_ in WORKLOADS:
        medians = {name: [statistics.median(r[i] for r in results[name][workload]) for i in range(3)] for name in commands}
        b, n = medians["buse"], medians["nbdkit"]
        rows.append([workload, f"{b[0]:.0f}", f"{n[0]:.0f}", f"{b[0] / n[0]:.2f}×", f"{b[1]:.1f}", f"{n[1]:.1f}",
                     f"{b[2]:.1f}", f"{n[2]:.1f}"])
    print(f"\nTLS: {cipher} (PSK, both servers GnuTLS); libnbd client bench/tlsload.c; "
          f"{args.reps} reps × {args.runtime:g} s, medians")
    print(markdown_table(["workload", "buse IOPS", "nbdkit IOPS", "buse/nbdkit", "buse MB/s", "nbdkit MB/s",
                          "buse CPU µs/IO", "nbdkit CPU µs/IO"], rows))


if __name__ == "__main__":
    main()
