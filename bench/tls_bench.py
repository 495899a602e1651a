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
first, so reads hit data).

Ciphers. Left to GnuTLS 3.7's `NORMAL`, nbdkit negotiates ChaCha20-Poly1305
with libnbd even on a CPU with AES instructions, where it costs about nine
times AES-GCM's CPU per byte; buse leaves ChaCha20 out on such a CPU and
negotiates AES-GCM. `--ciphers same` (the default, the issue's condition:
same credentials and cipher) gives every process of the run a GnuTLS system
configuration (GNUTLS_SYSTEM_PRIORITY_FILE) that disables ChaCha20, so both
servers use AES-GCM. `--ciphers defaults` leaves each server as it ships:
what users get without configuring anything. buse's log names the cipher,
printed below.

Per workload: IOPS, MB/s (10^6 bytes), server CPU µs per I/O
(utime+stime of the server process over the run, 10 ms ticks) and the
client's (tlsload's rusage). On two cores shared by client and server, a
core-bound run's IOPS is the inverse of their CPU per I/O together, so the
table also prints the ratio those allow ("ratio from CPU per I/O": nbdkit's
server + client CPU per I/O over buse's). The median
over --reps repetitions, servers alternating, is reported with buse/nbdkit.

Usage: python3 bench/tls_bench.py --buse .build/release/buse [--runtime 5] [--reps 3]
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import EXPORT, Server, force_aes_gcm, markdown_table, psk_and_tls_client  # noqa: E402

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
    parser.add_argument("--ciphers", choices=["same", "defaults"], default="same",
                        help="same: both servers (and the client) without ChaCha20, so both use AES-GCM; "
                             "defaults: each server's own choice")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="buse-tls-bench-")
    if args.ciphers == "same":
        force_aes_gcm(workdir)
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir):
    keys, load = psk_and_tls_client(workdir)
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
                    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    out = subprocess.run([load, uri, rw, pattern, str(block), str(depth), str(args.runtime)],
                                         check=True, capture_output=True, text=True).stdout.split()
                    cpu = sum(server.cpu_us()) - before
                    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    client = ((client_after.ru_utime + client_after.ru_stime)
                              - (client_before.ru_utime + client_before.ru_stime)) * 1e6
                    ios, seconds = int(out[0]), float(out[1])
                    results[name][workload].append((ios / seconds, ios * block / seconds / 1e6, cpu / max(ios, 1),
                                                    client / max(ios, 1)))
                    print(f"rep {rep + 1} {name:6} {workload:18} {ios / seconds:9.0f} IOPS {ios * block / seconds / 1e6:8.1f} MB/s "
                          f"{cpu / max(ios, 1):6.1f} µs CPU/IO, client {client / max(ios, 1):6.1f}", flush=True)
            finally:
                server.stop()
            if name == "buse" and cipher is None:
                with open(server.log_path, errors="replace") as f:
                    cipher = next((line.split("tls=")[1].split()[0] for line in f if "TLS established" in line), None)
    rows = []
    for workload, *_ in WORKLOADS:
        medians = {name: [statistics.median(r[i] for r in results[name][workload]) for i in range(4)] for name in commands}
        b, n = medians["buse"], medians["nbdkit"]
        # Where client and server share the cores, IOPS is at most the inverse
        # of their CPU per I/O together: buse's ceiling against nbdkit is
        # nbdkit's server+client CPU per I/O over buse's.
        ceiling = (n[2] + n[3]) / (b[2] + b[3]) if b[2] + b[3] else float("nan")
        rows.append([workload, f"{b[0]:.0f}", f"{n[0]:.0f}", f"{b[0] / n[0]:.2f}×", f"{b[1]:.1f}", f"{n[1]:.1f}",
                     f"{b[2]:.1f}", f"{n[2]:.1f}", f"{b[3]:.1f}", f"{n[3]:.1f}", f"{ceiling:.2f}×"])
    print(f"\nTLS: {cipher} (PSK, both servers GnuTLS, ciphers: {args.ciphers}); libnbd client bench/tlsload.c; "
          f"{args.reps} reps × {args.runtime:g} s, medians")
    print(markdown_table(["workload", "buse IOPS", "nbdkit IOPS", "buse/nbdkit", "buse MB/s", "nbdkit MB/s",
                          "buse CPU µs/IO", "nbdkit CPU µs/IO", "client µs/IO (buse)", "client µs/IO (nbdkit)",
                          "ratio from CPU per I/O"], rows))


if __name__ == "__main__":
    main()
