#!/usr/bin/env python3
"""What `--metrics` costs on the NBD hot path: 4K random read and write at iodepth 16.

Contenders, each a fresh `buse serve` of the same 1 GiB tmpfs file over loopback TCP:
  metrics-off  buse serve without --metrics (the per-connection request counts still run:
               they are always on, and only summed when scraped);
  metrics-on   buse serve --metrics 127.0.0.1:PORT, scraped every second by this script
               while fio runs (Prometheus' usual interval is 15 s: this is harsher);
  baseline     (with --baseline BUSE) another buse binary, e.g. one built before the
               request counts existed, without --metrics.
Each workload runs --reps times (default 5) per contender, the order rotated every
repetition; medians are reported with each contender's difference from metrics-off.
The bar: metrics-on within 3% of metrics-off.

Usage
  python3 bench/metrics_bench.py --buse .build/release/buse [--baseline /path/to/old/buse] [--reps 5 --runtime 5]
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import urllib.request

from common import EXPORT, Server, Workload, free_port, markdown_table, measure_server, medians, run_rotated, workload_options

WORKLOADS = [Workload("4k-randread-qd16", "randread", "4k", 16), Workload("4k-randwrite-qd16", "randwrite", "4k", 16)]


class Scraper:
    """GETs /metrics every second until stopped; counts the scrapes that answered 200."""

    def __init__(self, port):
        self.port, self.stopped, self.scrapes = port, threading.Event(), 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as answer:
                    answer.read()
                    self.scrapes += answer.status == 200
            except OSError:
                pass

    def stop(self):
        self.stopped.set()
        self.thread.join()


def measure(name, workload, args, image, workdir):
    binary = args.baseline if name == "baseline" else args.buse
    metrics_port = free_port()
    extra = ["--metrics", f"127.0.0.1:{metrics_port}"] if name == "metrics-on" else []
    command = lambda address: [binary, "serve", "--export", f"{EXPORT}=file:{image}", "--listen", f"127.0.0.1:{address[1]}", *extra]
    server = Server(name, command, workdir)
    scraper = Scraper(metrics_port) if name == "metrics-on" else None
    try:
        options = ["--ioengine=nbd", f"--uri={server.uri}", *workload_options(workload, args.runtime)]
        result = measure_server(server, workload, options, args.runtime, workdir)
    finally:
        if scraper:
            scraper.stop()
    if scraper and scraper.scrapes == 0:
        raise RuntimeError("no scrape of /metrics answered 200 during the run")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buse", required=True)
    parser.add_argument("--baseline", help="another buse binary to run without --metrics")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--runtime", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    contenders = ["metrics-off", "metrics-on"] + (["baseline"] if args.baseline else [])
    workdir = tempfile.mkdtemp(prefix="buse-metrics-bench-", dir="/dev/shm")
    # The image is RAM (1 GiB by default): removed whatever happens.
    try:
        image = os.path.join(workdir, "disk.img")
        chunk = os.urandom(1 << 20)
        with open(image, "wb") as f:
            for _ in range(args.size_mib):
                f.write(chunk)
        results, errors = run_rotated(WORKLOADS, contenders, args.reps, lambda n, w: measure(n, w, args, image, workdir))
        rows = []
        for workload in WORKLOADS:
            off = medians(results[workload.name]["metrics-off"])
            for name in contenders:
                m = medians(results[workload.name][name])
                if not m or not off:
                    continue
                rows.append([workload.name, name, f"{m['iops']:.0f}", f"{100 * (m['iops'] / off['iops'] - 1):+.1f}%",
                             f"{m['lat_us']:.1f}", f"{m['cpu_us_per_io']:.2f}"])
        print()
        print(markdown_table(["workload", "contender", "IOPS (median)", "vs metrics-off", "clat µs", "server CPU µs/IO"], rows))
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        return 1 if errors else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    sys.exit(main())
