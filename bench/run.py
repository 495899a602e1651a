#!/usr/bin/env python3
"""Side-by-side NBD server benchmark: buse against nbdkit and qemu-nbd, replicated against unreplicated, and on RADOS against librbd.

Three comparisons, all by default; the last only when this machine can run a
Ceph cluster (--rados runs only it and fails if it cannot, --no-rados skips it):
  on a file: buse, nbdkit and qemu-nbd serving a tmpfs file (below);
  replication: replicated against unreplicated buse on client writes, and the
    resync against nbdcopy (--replication runs only it, --no-replication skips
    it; bench/replication_bench.py says what and how);
  on RADOS: librbd direct, qemu-nbd on rbd: and buse on rados:, on a private
    one-node Ceph cluster started and stopped by this script (bench/rados_bench.py
    says what and how).

What the file comparison measures
  fio's nbd engine (libnbd, the client fio links) drives each server over
  loopback TCP (or a Unix socket with --transport unix). All servers export the
  same 1 GiB file on tmpfs (/dev/shm), written in full once before the first run
  so reads hit data, not holes. Workloads run ~5 s each, time_based:
    4K random read and write at iodepth 1 and 16, 1M sequential read and write
    at iodepth 1 and 16, and 4K random write over 4 connections (numjobs=4,
    iodepth 8 each, group_reporting).
  Each workload runs --reps times (default 3) per server; the server order is
  rotated every repetition to spread machine noise, and the median of each
  metric is reported.

Per run
  From fio's JSON: IOPS, MB/s (10^6 bytes) and mean completion latency (clat).
  From the server process:
    CPU µs per I/O: utime+stime from /proc/PID/stat (all threads, 10 ms ticks)
      from just before fio starts to just after it exits, divided by fio's I/O
      count. fio itself shares the 2 cores and is not counted.
    Peak RSS: VmHWM from /proc/PID/status read just before the server is
      stopped. Every run gets a freshly started server, so VmHWM is that run's
      peak (including start-up), not a leftover of an earlier workload.

Output
  A summary table (IOPS, or MB/s for 1M, per server with buse ratios), a detail
  table (every metric per server), the bars buse is held to and whether each is
  met. The same goes to results/bench-<timestamp>.md and .json.

Usage
  python3 bench/run.py --buse .build/release/buse            # full, ~8 min + ~3 min replication + ~7 min RADOS
  python3 bench/run.py --buse ... --quick                    # 1 rep, 2 s runs
  python3 bench/run.py --buse ... --rados                    # only RADOS, ~7 min
  python3 bench/run.py --buse ... --replication              # only replication, ~3 min
  python3 bench/run.py --buse ... --only buse,nbdkit --workloads 4k-randread-qd1,1m-seqwrite-qd16

Every server it starts is stopped by pid on exit, Ctrl-C or SIGTERM (and gets
SIGTERM from the kernel should this script die without cleaning up); so is the
Ceph cluster, whose daemons the next run stops should this one be SIGKILLed.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from common import EXPORT, Server, Workload, fio_cpu_us_per_io, fmt, markdown_table, measure_server, medians, run_rotated, workload_options
import rados_bench
import replication_bench

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


WORKLOADS = [
    Workload("4k-randread-qd1", "randread", "4k", 1),
    Workload("4k-randread-qd16", "randread", "4k", 16),
    Workload("4k-randwrite-qd1", "randwrite", "4k", 1),
    Workload("4k-randwrite-qd16", "randwrite", "4k", 16),
    Workload("1m-seqread-qd1", "read", "1m", 1),
    Workload("1m-seqread-qd16", "read", "1m", 16),
    Workload("1m-seqwrite-qd1", "write", "1m", 1),
    Workload("1m-seqwrite-qd16", "write", "1m", 16),
    Workload("4k-randwrite-4conn-qd8", "randwrite", "4k", 8, numjobs=4),
]

# The bars from the issue: (description, workloads, metric, peer, minimum ratio).
BARS = [
    ("4K IOPS at iodepth 16 >= 1.5x nbdkit", ["4k-randread-qd16", "4k-randwrite-qd16"], "iops", 1.5),
    ("4K IOPS at iodepth 1 >= 1.3x nbdkit", ["4k-randread-qd1", "4k-randwrite-qd1"], "iops", 1.3),
    ("1M MB/s >= 1.1x nbdkit", ["1m-seqread-qd1", "1m-seqread-qd16", "1m-seqwrite-qd1", "1m-seqwrite-qd16"], "mbps", 1.1),
]
RSS_BAR_MIB = 64
RSS_BAR_WORKLOADS = ["4k-randread-qd16", "4k-randwrite-qd16", "1m-seqread-qd16", "1m-seqwrite-qd16"]


# ---------------------------------------------------------------- servers

def server_command(name, buse, image, address):
    """The command line that serves `image` as EXPORT at `address` ("tcp", port) or ("unix", path)."""
    kind, where = address
    if name == "buse":
        listen = ["--listen", f"127.0.0.1:{where}"] if kind == "tcp" else ["--unix", where]
        return [buse, "serve", "--export", f"{EXPORT}=file:{image}", *listen]
    if name == "nbdkit":
        listen = ["-i", "127.0.0.1", "-p", str(where)] if kind == "tcp" else ["-U", where]
        return ["nbdkit", "-f", *listen, "file", image]
    if name == "qemu-nbd":
        listen = ["-b", "127.0.0.1", "-p", str(where)] if kind == "tcp" else ["-k", where]
        return ["qemu-nbd", "-f", "raw", "-x", EXPORT, "--persistent", "--shared=8", *listen, image]
    raise ValueError(name)


def measure(name, workload, args, image, workdir):
    """One run: a fresh server, one fio invocation, the metrics of both."""
    server = Server(name, lambda address: server_command(name, args.buse, image, address), workdir, args.transport)
    options = ["--ioengine=nbd", f"--uri={server.uri}", *workload_options(workload, args.runtime)]
    return measure_server(server, workload, options, args.runtime, workdir)


def precondition(image, size):
    """Writes the whole file once with incompressible data, so reads hit data, not holes."""
    chunk = os.urandom(1 << 20)
    with open(image, "wb") as f:
        for _ in range(size >> 20):
            f.write(chunk)


def run_all(args, servers, workloads, workdir):
    image = os.path.join(workdir, "disk.img")
    print(f"writing {args.size_mib} MiB to {image} ...", flush=True)
    precondition(image, args.size_mib << 20)
    return run_rotated(
        workloads, servers, args.reps, lambda name, workload: measure(name, workload, args, image, workdir),
        extra=lambda r: f" {r['cpu_us_per_io']:>7.2f} CPU µs/IO {r['peak_rss_mib']:>6.1f} MiB")


# ---------------------------------------------------------------- report

def ratio(summary, workload, metric, peer):
    buse, other = summary[workload.name].get("buse"), summary[workload.name].get(peer)
    if not buse or not other or not other[metric]:
        return None
    return buse[metric] / other[metric]


def summary_table(summary, servers, workloads):
    peers = [p for p in ("nbdkit", "qemu-nbd") if p in servers and "buse" in servers]
    header = ["workload", "metric", *servers, *[f"buse/{p}" for p in peers]]
    header += ["CPU/IO buse/nbdkit"] if "nbdkit" in peers else []
    rows = []
    for w in workloads:
        metric = "mbps" if w.large else "iops"
        row = [w.name, "MB/s" if w.large else "IOPS"]
        row += [fmt((summary[w.name][s] or {}).get(metric), ".0f") for s in servers]
        row += [fmt(ratio(summary, w, metric, p), ".2f") for p in peers]
        if "nbdkit" in peers:
            row.append(fmt(ratio(summary, w, "cpu_us_per_io", "nbdkit"), ".2f"))
        rows.append(row)
    return markdown_table(header, rows)


def detail_table(summary, servers, workloads):
    header = ["workload", "server", "IOPS", "MB/s", "mean clat µs", "server CPU µs/IO", "of which user",
              "server CPU %", "peak RSS MiB", "threads", "fio CPU %", "fio CPU µs/IO", "machine CPU µs/IO", "machine busy %"]
    rows = []
    for w in workloads:
        for s in servers:
            m = summary[w.name][s]
            if m is None:
                rows.append([w.name, s, "failed"] + [""] * (len(header) - 3))
                continue
            rows.append([w.name, s, f"{m['iops']:.0f}", f"{m['mbps']:.1f}", f"{m['lat_us']:.1f}",
                         f"{m['cpu_us_per_io']:.2f}", f"{m['user_us_per_io']:.2f}", f"{m['server_cpu_pct']:.0f}",
                         f"{m['peak_rss_mib']:.1f}", f"{m['threads']:.0f}", f"{m['fio_cpu_pct']:.0f}",
                         f"{fio_cpu_us_per_io(m):.2f}" if m['iops'] else "—",
                         f"{m['machine_cpu_us_per_io']:.2f}", f"{m['machine_busy_pct']:.0f}"])
    return markdown_table(header, rows)


# At or above this much of one core, fio itself is the bottleneck of a run.
CLIENT_BOUND_PCT = 97


def bars(summary, workloads):
    """Each bar with its verdict: "met", "NOT met", or "n/a" when a needed run is missing."""
    by_name = {w.name: w for w in workloads}
    verdicts = []
    for text, names, metric, minimum in BARS:
        ratios = [(n, ratio(summary, by_name[n], metric, "nbdkit")) for n in names if n in by_name]
        known = [(n, r) for n, r in ratios if r is not None]
        detail = ", ".join(f"{n} {r:.2f}×" for n, r in known)
        saturated = [n for n, _ in known if (summary[n].get("buse") or {}).get("fio_cpu_pct", 0) >= CLIENT_BOUND_PCT]
        if saturated:
            detail += f"; client-bound: fio at ≥ {CLIENT_BOUND_PCT}% of its core with buse in {', '.join(saturated)}"
        verdict = "n/a" if not known or len(known) < len(names) else ("met" if all(r >= minimum for _, r in known) else "NOT met")
        verdicts.append((text, verdict, detail))
    rss = [(n, summary[n]["buse"]["peak_rss_mib"]) for n in RSS_BAR_WORKLOADS if n in summary and (summary[n].get("buse"))]
    detail = ", ".join(f"{n} {r:.1f} MiB" for n, r in rss)
    verdict = "n/a" if not rss else ("met" if max(r for _, r in rss) <= RSS_BAR_MIB else "NOT met")
    verdicts.append((f"buse peak RSS <= {RSS_BAR_MIB} MiB at iodepth 16 on one connection", verdict, detail))
    return verdicts


def command_output(command):
    """The first line `command` prints, or "?"."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def load_average():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def environment(args):
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "uptime_before": command_output(["uptime"]).strip(),
        "buse": os.path.abspath(args.buse),
        "buse_commit": command_output(["git", "-C", REPO, "describe", "--always", "--dirty"]),
        "fio": command_output(["fio", "--version"]),
        "nbdkit": command_output(["nbdkit", "--version"]),
        "qemu-nbd": command_output(["qemu-nbd", "--version"]),
        "transport": args.transport,
        "runtime_s": args.runtime,
        "reps": args.reps,
        "size_mib": args.size_mib,
    }


def report(args, env, servers, workloads, results, errors, load_before, load_after):
    """The file-export section of the report, as markdown and as data for the JSON file."""
    summary = {w: {s: medians(runs) for s, runs in by_server.items()} for w, by_server in results.items()}
    verdicts = bars(summary, workloads)
    text = [
        "## NBD servers on a file",
        "",
        f"fio {env['fio']} nbd engine over {args.transport} loopback; {args.size_mib} MiB file on tmpfs; "
        f"{args.runtime} s per run, median of {args.reps}; load average before {' '.join(load_before)}, "
        f"after {' '.join(load_after)}. {env['nbdkit']}, {env['qemu-nbd']}.",
        "",
        "### Summary (IOPS for 4K, MB/s for 1M)",
        "",
        summary_table(summary, servers, workloads),
        "",
        "### Detail",
        "",
        "Server CPU µs/IO: server utime+stime during the run / I/Os done (\"of which user\": utime only; the rest "
        "is the kernel's socket and page-cache work on the server's behalf). Server CPU %: of one core. "
        "Peak RSS: VmHWM of a server started fresh for that run. Threads: the most the server had during the run (sampled every 0.1 s). "
        "fio CPU %: the client's own (one job, so at most 100): near 100 the client, not the server, "
        "sets the pace, and its µs/IO is the floor a faster server cannot go below.",
        "",
        detail_table(summary, servers, workloads),
        "",
        "### Bars",
        "",
        *[f"- {verdict:7} {text}" + (f" ({detail})" if detail else "") for text, verdict, detail in verdicts],
    ]
    if errors:
        text += ["", "### Failed runs", "", *[f"- {e}" for e in errors]]
    data = {"runs": results, "medians": summary, "errors": errors,
            "bars": [{"bar": t, "verdict": v, "detail": d} for t, v, d in verdicts]}
    return "\n".join(text) + "\n", data


def write_results(args, env, sections, data):
    """Prints the report and writes it to results/bench-<timestamp>.md and .json."""
    header = [
        f"# buse benchmark {env['date']}",
        "",
        f"{env['cpus']} CPUs; `uptime` before: {env['uptime_before']}; after: {env['uptime_after']}. "
        f"buse {env['buse_commit']} ({env['buse']}).",
        "",
    ]
    markdown = "\n".join(header) + "\n" + "\n".join(sections)
    print("\n" + markdown)
    os.makedirs(args.results, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(args.results, f"bench-{stamp}")
    with open(base + ".md", "w") as f:
        f.write(markdown)
    with open(base + ".json", "w") as f:
        json.dump({"environment": env, **data}, f, indent=1)
    print(f"wrote {base}.md and {base}.json")


# ---------------------------------------------------------------- main

def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buse", required=True, help="path to the release buse binary")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 repetition of 2 s runs")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per workload and server (default 3)")
    parser.add_argument("--runtime", type=int, default=5, help="seconds per fio run (default 5)")
    parser.add_argument("--only", default="buse,nbdkit,qemu-nbd", help="comma-separated servers to run on the file")
    parser.add_argument("--workloads", help="comma-separated file workload names (default all): "
                        + ", ".join(w.name for w in WORKLOADS))
    parser.add_argument("--transport", choices=["tcp", "unix"], default="tcp")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the served file (default 1024)")
    parser.add_argument("--dir", default="/dev/shm", help="tmpfs directory for the file and sockets (default /dev/shm)")
    parser.add_argument("--results", default=os.path.join(REPO, "results"), help="where to write bench-*.md/json")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--rados", action="store_true",
                       help="only the RADOS comparison (librbd direct, qemu-nbd on rbd:, buse on rados:), "
                       "on a private one-node Ceph cluster; fails if it cannot run")
    which.add_argument("--replication", action="store_true",
                       help="only the replication comparison (replicated against unreplicated buse, resync against "
                       "nbdcopy); fails if it cannot run")
    which.add_argument("--no-rados", action="store_true", help="skip the RADOS comparison")
    parser.add_argument("--no-replication", action="store_true", help="skip the replication comparison")
    rados_bench.add_arguments(parser)
    replication_bench.add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.reps, args.runtime = 1, 2
    servers = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(servers) - {"buse", "nbdkit", "qemu-nbd"}
    if unknown:
        parser.error(f"unknown server(s) in --only: {', '.join(sorted(unknown))}")
    workloads = WORKLOADS
    if args.workloads:
        wanted = [n.strip() for n in args.workloads.split(",") if n.strip()]
        known = {w.name for w in WORKLOADS}
        if set(wanted) - known:
            parser.error(f"unknown workload(s): {', '.join(sorted(set(wanted) - known))}")
        workloads = [w for w in WORKLOADS if w.name in wanted]
    if not os.access(args.buse, os.X_OK):
        parser.error(f"--buse {args.buse} is not an executable file")
    tools = ["fio"] + ([s for s in servers if s != "buse"] if not (args.rados or args.replication) else [])
    for tool in tools:
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (scripts/install-packages.sh bench)")
    rados_bench.check_arguments(parser, args)
    replication_bench.check_arguments(parser, args)
    return args, servers, workloads


def remove_stale_workdirs(parent):
    """Removes the 1 GiB leftovers of earlier runs that were killed outright (their pid is gone)."""
    for entry in os.listdir(parent):
        parts = entry.split("-")
        if entry.startswith("buse-bench-") and len(parts) >= 4 and parts[2].isdigit():
            if not os.path.exists(f"/proc/{parts[2]}"):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def run_file_section(args, env, servers, workloads):
    """The comparison on a tmpfs file: (markdown, data)."""
    remove_stale_workdirs(args.dir)
    workdir = tempfile.mkdtemp(prefix=f"buse-bench-{os.getpid()}-", dir=args.dir)
    try:
        before = load_average()
        results, errors = run_all(args, servers, workloads, workdir)
        return report(args, env, servers, workloads, results, errors, before, load_average())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    args, servers, workloads = parse_arguments()
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop every server and the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    env = environment(args)
    sections, data = [], {}
    try:
        if not (args.rados or args.replication):
            markdown, data["file"] = run_file_section(args, env, servers, workloads)
            sections.append(markdown)
        if not (args.rados or args.no_replication):
            missing = replication_bench.missing_prerequisites(args)
            if missing and not args.replication:
                sections.append(f"## Replication\n\nskipped: {missing}. Install them (scripts/install-packages.sh "
                                "bench) and run `python3 bench/run.py --buse ... --replication`.\n")
                print(f"skipping the replication comparison: {missing}", flush=True)
            else:
                if missing:
                    raise SystemExit(f"cannot run the replication comparison: {missing}")
                remove_stale_workdirs(args.dir)
                markdown, data["replication"] = replication_bench.run_section(args, env, args.dir)
                sections.append(markdown)
        if not (args.no_rados or args.replication):
            missing = rados_bench.missing_prerequisites()
            if missing and not args.rados:
                sections.append(f"## RADOS\n\nskipped: {missing}. Install them (scripts/install-packages.sh bench "
                                "and ceph) and run `python3 bench/run.py --buse ... --rados`.\n")
                print(f"skipping the RADOS comparison: {missing}", flush=True)
            else:
                if missing:
                    raise SystemExit(f"cannot run the RADOS comparison: {missing}")
                markdown, data["rados"] = rados_bench.run_section(args, env)
                sections.append(markdown)
    except KeyboardInterrupt:
        print("\ninterrupted; servers and cluster stopped", file=sys.stderr)
        return 130
    env["uptime_after"] = command_output(["uptime"]).strip()
    write_results(args, env, sections, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
