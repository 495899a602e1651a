#!/usr/bin/env python3
"""Where the CPU of an NBD-over-TLS I/O goes, in buse and in nbdkit, server and client.

The question it answers: how much of a TLS I/O's CPU is the cipher itself,
which no server can avoid, and how much is the server's own path, which is
what buse can make cheaper than nbdkit's. tls_bench.py gives the ratios;
this gives the parts.

How: for each server (`buse serve memory:1G` and `nbdkit memory 1G`, both
`--tls require` with one psktool PSK, on a Unix socket, both made to use
AES-GCM as tls_bench.py's `--ciphers same` does) and each workload, a fresh
server, a tlsload client (bench/tlsload.c: libnbd, fixed depth, one
connection) running for --runtime s, and `perf record -a` sampling every CPU
at --frequency Hz over the middle --sample s. Each sample of the server or
of the client is put in one category by its leaf symbol (CATEGORIES below):
the cipher (AES-GCM's AES-NI and carry-less multiply code, in GnuTLS or
nettle), libc's memmove/memcpy, the kernel's copies to and from user memory,
the rest of the kernel, the rest of user space. A category's µs per I/O is
its sample count over the frequency, divided by the I/Os completed in the
sampled window (the client's count scaled to the window).

Needs root (perf), nbdkit, psktool, cc with libnbd-dev, a release build.

Usage: python3 bench/tls_breakdown.py --buse .build/release/buse [--workloads 1m-seqread-qd16,...]
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import EXPORT, Server, force_aes_gcm, perf_leaf_samples, psk_and_tls_client  # noqa: E402

WORKLOADS = {  # name: (read|write, random|sequential, block size, depth)
    "1m-seqread-qd16": ("read", "sequential", 1 << 20, 16),
    "1m-seqwrite-qd16": ("write", "sequential", 1 << 20, 16),
    "4k-randread-qd16": ("read", "random", 4096, 16),
    "4k-randwrite-qd16": ("write", "random", 4096, 16),
}

CATEGORIES = [  # (pattern on "symbol dso", category): the first that matches the leaf frame decides
    # GnuTLS 3.7's AES-NI and carry-less-multiply code is assembly without
    # symbols in Debian's build: perf shows it as [unknown] in libgnutls.
    (r"aesni|gcm|ghash|clmul|nettle_aes|chacha|poly1305|\[unknown\] \(.*libgnutls", "cipher (AES-GCM)"),
    (r"__memmove|__memcpy|memmove|memcpy", "libc memmove/memcpy"),
    (r"copy_user|_copy_to_iter|_copy_from_iter|copyout|copyin|rep_movs|copy_page", "kernel copy to/from user"),
    (r"\[kernel\.kallsyms\]", "kernel, other"),
    (r"libgnutls|libnettle|libhogweed", "GnuTLS, other"),
    (r"libc\.so", "libc, other"),
    (r"", "user, other"),
]


def sample(args, server_name, command, workload, keys, load, workdir):
    rw, pattern, block, depth = WORKLOADS[workload]
    server = Server(server_name, command, workdir, transport="unix")
    try:
        uri = f"nbds+unix://alice@/{EXPORT}?socket={server.address[1]}&tls-psk-file={keys}"
        if rw == "read":  # reads of data, as in tls_bench.py, which writes first
            subprocess.run([load, uri, "write", "sequential", str(1 << 20), "16", "2"], check=True,
                           capture_output=True)
        client = subprocess.Popen([load, uri, rw, pattern, str(block), str(depth), str(args.runtime)],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep((args.runtime - args.sample) / 2)
        data = os.path.join(workdir, f"perf-{server_name}-{workload}.data")
        subprocess.run(["perf", "record", "-a", "-F", str(args.frequency), "-o", data, "--", "sleep",
                        str(args.sample)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        output = client.communicate()[0].split()
        ios, seconds = int(output[0]), float(output[1])
        return classify(data, {server.process.pid: "server", client.pid: "client"}, ios * args.sample / seconds, args)
    finally:
        server.stop()


def classify(data, names, ios_in_window, args):
    patterns = [(re.compile(p), category) for p, category in CATEGORIES]
    counts = collections.defaultdict(collections.Counter)
    for pid, leaf in perf_leaf_samples(data, "pid"):
        if pid not in names:
            continue
        category = next(category for pattern, category in patterns if pattern.search(leaf))
        counts[names[pid]][category] += 1
    return {name: {category: count / args.frequency * 1e6 / ios_in_window for category, count in c.items()}
            for name, c in counts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buse", required=True)
    parser.add_argument("--runtime", type=float, default=10)
    parser.add_argument("--sample", type=float, default=6)
    parser.add_argument("--frequency", type=int, default=1999)
    parser.add_argument("--workloads", default="1m-seqread-qd16,1m-seqwrite-qd16,4k-randread-qd16")
    args = parser.parse_args()
    if shutil.which("perf") is None or shutil.which("nbdkit") is None:
        sys.exit("needs perf and nbdkit")
    workdir = tempfile.mkdtemp(prefix="buse-tls-breakdown-")
    try:
        force_aes_gcm(workdir)
        keys, load = psk_and_tls_client(workdir)
        commands = {
            "buse": lambda address: [args.buse, "serve", "--export", f"{EXPORT}=memory:1G", "--unix", address[1],
                                     "--tls", "require", "--tls-psk", keys],
            "nbdkit": lambda address: ["nbdkit", "-f", "--unix", address[1], "--tls=require",
                                       f"--tls-psk={keys}", "memory", "1G"],
        }
        for workload in args.workloads.split(","):
            results = {name: sample(args, name, command, workload, keys, load, workdir)
                       for name, command in commands.items()}
            columns = [(name, side) for name in commands for side in ("server", "client")]
            print(f"\n{workload}: µs of CPU per I/O (perf samples at {args.frequency} Hz over {args.sample:g} s)\n")
            print("| category | " + " | ".join(f"{name} {side}" for name, side in columns) + " |")
            print("|---|" + "---:|" * len(columns))
            for _, category in CATEGORIES:
                cells = [results[name].get(side, {}).get(category, 0) for name, side in columns]
                if any(cells):
                    print(f"| {category} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
            totals = [sum(results[name].get(side, {}).values()) for name, side in columns]
            print("| **total** | " + " | ".join(f"**{t:.1f}**" for t in totals) + " |", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
