"""The RADOS comparison of `make bench`: buse's rados: device beside librbd itself and qemu-nbd.

What it measures
  A private one-node Ceph cluster (scripts/ceph-cluster.sh in its own directory
  under /tmp and on its own mon port, memstore OSD) serves three 2 GiB images
  in pool `buse`:
    librbd     fio's rbd engine straight on RBD image buse/benchimg (no NBD at
               all: the ceiling a block service over RADOS can hope for), with
               librbd's defaults
    librbd-wt  the same image and engine with rbd_cache_max_dirty=0
    qemu-nbd   `qemu-nbd --persistent` serving rbd:buse/benchimg2 (QEMU's librbd
               driver) to fio's nbd engine over loopback TCP
    buse       `buse serve` exporting rados:buse/benchimg3 (a buse image) to
               fio's nbd engine over loopback TCP
    buse-wa    the same with write-around=24M
    nbd-hop    `buse serve` exporting memory: the same way: no RADOS at all,
               only what crossing NBD costs (see "The NBD hop" below)
  Before any run, the first --rados-region-mib (default 1024) of every image is
  written with 4 MiB requests, so reads hit data, not holes; every workload
  stays in that region. Workloads, time_based, --runtime s each: 1M sequential
  write and read and 4K random write and read, all at iodepth 16. Each runs
  --reps times per contender, the order rotated each repetition; medians.

When a write is acknowledged
  librbd's defaults (rbd_cache=true, rbd_cache_policy=writearound, 24 MiB
  rbd_cache_max_dirty) acknowledge a write once it is sent, before the OSD
  holds it, flush or no flush: measured here, rbd_cache_max_dirty=0 (librbd's
  documented write-through mode) takes 4K write latency at iodepth 1 from
  about 260 µs to about 1 ms. buse acknowledges a write once RADOS holds it,
  unless write-around=SIZE lets it acknowledge up to SIZE bytes early. So the
  bar compares like with like: buse with librbd-wt, buse-wa with librbd.
  Reads may hit librbd's cache and readahead in both modes; buse caches
  nothing. qemu-nbd runs with its default --cache=writeback, which keeps
  librbd's defaults; fio's nbd engine sends no flush.

Per run: IOPS, MB/s, mean completion latency from fio; for qemu-nbd and buse
also the server's CPU per I/O and peak RSS (as for the file comparison). The
bar: each buse mode at least 0.9x its librbd counterpart on every workload
(IOPS for 4K, MB/s for 1M). And issue 15's: buse's own CPU per write at most
35 µs at 4K and 450 µs at 1M (the server's CPU alone: the OSD's cost moves
by 30-50% between runs on this cluster, buse's does not).

The C floor beside the CPU bars
  Right after each buse run of a workload with a CPU bar, bench/rados_floor.c
  "served" runs on the same cluster with the same block size, depth, region
  and runtime, writing buse's own image objects as buse's run left them (a
  memstore object overwritten at random in 4K pieces gets slower to write,
  so fresh objects would flatter the floor): a C server of buse's shape (one reader submitting with
  rados_aio_write, replies sent from librados' callbacks) under fio's nbd
  engine, with no map, allocation or locks of its own. Its CPU per write is
  the least an NBD server on librados built like buse spends at that moment:
  the memstore OSD slows within a run, and every thread's CPU per write
  rises as fewer writes share a wake-up, so the bar's line prints the
  floor's median beside buse's.

The NBD hop
  buse on rados: does what librbd does (librados, the OSD, a copy into a
  buffer) and also carries every byte across NBD: fio's nbd engine sends and
  receives on one side, the server on the other. nbd-hop measures that hop
  alone: the client's part is fio's CPU per I/O beyond what fio's own thread
  spends with librbd, the server's is nbd-hop's kernel CPU per I/O (its user
  CPU, parsing and the memory copy, is left out: the RADOS path has a copy of
  its own). The report prints it beside librbd's machine CPU per I/O. It is
  a measurement, not a bound: per-I/O costs move with the I/O rate and with
  the memstore OSD's state (a run once reached 0.96x where the hop's share
  alone suggested 0.85x).

The cluster is stopped and its directory removed at the end, on Ctrl-C and on
SIGTERM; a cluster left by a run that was killed outright is stopped by the
next run (its directory names the pid that started it).
"""

import glob
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile

import rados_floors
from common import EXPORT, Server, Workload, fio_cpu_us_per_io, fmt, markdown_table, measure_server, measured, \
    medians, run_fio, run_rotated, workload_options

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER_SCRIPT = os.path.join(REPO, "scripts", "ceph-cluster.sh")
POOL = "buse"
CONTENDERS = ["librbd", "librbd-wt", "qemu-nbd", "buse", "buse-wa", "nbd-hop"]
# The contenders that are fio's rbd engine straight on librbd, and those that are buse.
LIBRBD = ("librbd", "librbd-wt")
BUSE = ("buse", "buse-wa")
# librbd and librbd-wt share an image, as do buse and buse-wa: the pairs differ
# only in when a write is acknowledged, and memstore keeps every byte twice.
IMAGES = {"librbd": "benchimg", "librbd-wt": "benchimg", "qemu-nbd": "benchimg2", "buse": "benchimg3",
          "buse-wa": "benchimg3"}
# Measured beside the others but no contender of the bar: buse without RADOS.
HOP = "nbd-hop"
# librbd's own write-through mode, as its documentation gives it.
LIBRBD_WRITE_THROUGH = {"CEPH_ARGS": "--rbd_cache_max_dirty=0"}
# buse's write-around budget: librbd's default rbd_cache_max_dirty (24 MiB).
BUSE_WRITE_AROUND = "24M"
# The bar compares like with like: each buse mode with the librbd mode that
# acknowledges writes at the same point.
PAIRS = [("buse", "librbd-wt"), ("buse-wa", "librbd")]
WORKLOADS = [
    Workload("1m-seqwrite-qd16", "write", "1m", 16),
    Workload("1m-seqread-qd16", "read", "1m", 16),
    Workload("4k-randwrite-qd16", "randwrite", "4k", 16),
    Workload("4k-randread-qd16", "randread", "4k", 16),
]
BAR = 0.9
# Issue 15: buse's own CPU per RADOS write, µs (server CPU, whatever the OSD costs).
CPU_BARS = [("4k-randwrite-qd16", 35), ("1m-seqwrite-qd16", 450)]
LIBRBD_SETTINGS = ["rbd_cache", "rbd_cache_policy", "rbd_cache_size", "rbd_cache_max_dirty",
                   "rbd_cache_writethrough_until_flush", "rbd_readahead_max_bytes"]
CLUSTER_PREFIX = "buse-bench-ceph-"


def add_arguments(parser):
    parser.add_argument("--rados-only", default=",".join(CONTENDERS),
                        help=f"comma-separated RADOS contenders (default {','.join(CONTENDERS)})")
    parser.add_argument("--rados-image-gib", type=int, default=2, help="size of each RADOS image (default 2)")
    parser.add_argument("--rados-region-mib", type=int, default=1024,
                        help="MiB of each image preconditioned and used by the workloads (default 1024)")


def check_arguments(parser, args):
    args.rados_contenders = [c.strip() for c in args.rados_only.split(",") if c.strip()]
    unknown = set(args.rados_contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contender(s) in --rados-only: {', '.join(sorted(unknown))}")
    if not 0 < args.rados_region_mib <= args.rados_image_gib << 10:
        parser.error("--rados-region-mib must be above 0 and at most the image size")


def missing_prerequisites():
    """Why the RADOS comparison cannot run here, or "" when it can."""
    tools = ["ceph-mon", "ceph-osd", "ceph", "rbd", "qemu-nbd", "fio", "cc"]
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not glob.glob("/usr/lib/*/qemu/block-rbd.so") and not glob.glob("/usr/lib/qemu/block-rbd.so"):
        missing.append("QEMU's rbd driver (package qemu-block-extra)")
    if shutil.which("fio"):
        engines = subprocess.run(["fio", "--enghelp"], capture_output=True, text=True).stdout.split()
        if "rbd" not in engines:
            missing.append("fio's rbd engine")
    return ", ".join(missing) + " missing" if missing else ""


# ---------------------------------------------------------------- the cluster

class Cluster:
    """A private one-node cluster for one benchmark run; stopped and removed on exit from the `with`."""

    def __init__(self, memstore_bytes):
        self.memstore_bytes = memstore_bytes
        self.directory = None

    def __enter__(self):
        stop_stale_clusters()
        # Short: the daemons' admin sockets live under it (107 characters at most).
        self.directory = tempfile.mkdtemp(prefix=f"{CLUSTER_PREFIX}{os.getpid()}-", dir="/tmp")
        try:
            return self.start()
        except BaseException:  # Ctrl-C or SIGTERM half-way too: stop what was started
            self.stop()
            raise

    def start(self):
        failures = []
        for port in free_port_pairs(3600, 3700, tries=3):
            started = subprocess.run(
                [CLUSTER_SCRIPT, "start", self.directory], capture_output=True, text=True, timeout=300,
                env=dict(os.environ, BUSE_CEPH_PORT=str(port), BUSE_CEPH_MEMSTORE=str(self.memstore_bytes)))
            if started.returncode == 0:
                self.port = port
                print(f"started a private Ceph cluster in {self.directory} on port {port}", flush=True)
                return self
            failures.append(started.stderr.strip()[-1500:])
            if "in use" not in started.stderr:
                break
        raise RuntimeError("cannot start the private Ceph cluster:\n" + "\n".join(failures))

    def __exit__(self, *exception):
        self.stop()
        return False

    @property
    def conf(self):
        return os.path.join(self.directory, "ceph.conf")

    @property
    def environment(self):
        return {"CEPH_CONF": self.conf}

    def stop(self):
        if self.directory and os.path.exists(self.directory):
            subprocess.run([CLUSTER_SCRIPT, "stop", self.directory, "--purge"], capture_output=True, timeout=180)
            shutil.rmtree(self.directory, ignore_errors=True)
            print(f"stopped the private Ceph cluster in {self.directory}", flush=True)

    def run(self, command, timeout=300):
        """Runs a command against this cluster (CEPH_CONF set); raises with its output if it fails."""
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env=dict(os.environ, **self.environment))
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()[-1500:]}")
        return result.stdout

    def setting(self, name):
        """A client setting's effective value, as librbd would read it from this cluster's ceph.conf."""
        out = subprocess.run(["ceph-conf", "-c", self.conf, "--name", "client.admin", "--show-config-value", name],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or "?"


def free_port_pairs(low, high, tries):
    """Even ports in [low, high) whose next port is free too, in random order, at most `tries`."""
    candidates = list(range(low, high, 2))
    random.shuffle(candidates)
    found = 0
    for port in candidates:
        try:
            for p in (port, port + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        yield port
        found += 1
        if found == tries:
            return


def stop_stale_clusters():
    """Stops the clusters of earlier runs that were killed outright (the pid in their name is gone)."""
    for directory in glob.glob(f"/tmp/{CLUSTER_PREFIX}*-*"):
        pid = os.path.basename(directory)[len(CLUSTER_PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            print(f"stopping a stale benchmark cluster in {directory}", flush=True)
            subprocess.run([CLUSTER_SCRIPT, "stop", directory, "--purge"], capture_output=True, timeout=180)


# ---------------------------------------------------------------- contenders

def server_command(name, buse, cluster, address, image_gib):
    _, port = address
    if name == HOP:
        return [buse, "serve", "--export", f"{EXPORT}=memory:{image_gib}G", "--listen", f"127.0.0.1:{port}"]
    image = f"{POOL}/{IMAGES[name]}"
    if name in BUSE:
        options = f"conf={cluster.conf}" + (f"&write-around={BUSE_WRITE_AROUND}" if name == "buse-wa" else "")
        return [buse, "serve", "--export", f"{EXPORT}=rados:{image}?{options}", "--listen", f"127.0.0.1:{port}"]
    if name == "qemu-nbd":
        return ["qemu-nbd", "-f", "raw", "-x", EXPORT, "--persistent", "--shared=8", "-b", "127.0.0.1", "-p", str(port),
                f"rbd:{image}:conf={cluster.conf}"]
    raise ValueError(name)


def librbd_options(name, args):
    return ["--ioengine=rbd", "--clientname=admin", f"--pool={POOL}", f"--rbdname={IMAGES[name]}",
            f"--size={args.rados_region_mib}m"]


def start_server(name, args, cluster, workdir):
    return Server(name, lambda address: server_command(name, args.buse, cluster, address, args.rados_image_gib), workdir,
                  environment=cluster.environment, timeout=60)


def measure(name, workload, args, cluster, workdir):
    """One run of `workload` on contender `name`, with a freshly started server where there is one."""
    if name in LIBRBD:
        options = librbd_options(name, args) + workload_options(workload, args.runtime)
        environment = dict(cluster.environment, **(LIBRBD_WRITE_THROUGH if name == "librbd-wt" else {}))
        job, _ = run_fio(workload.name, options, args.runtime, workdir, environment=environment)
        return measured(workload, job, args.runtime)
    server = start_server(name, args, cluster, workdir)
    options = ["--ioengine=nbd", f"--uri={server.uri}", f"--size={args.rados_region_mib}m",
               *workload_options(workload, args.runtime)]
    result = measure_server(server, workload, options, args.runtime, workdir)
    if name == "buse" and workload.name in dict(CPU_BARS):
        block = {"4k": 4096, "1m": 1 << 20}[workload.bs]
        # On buse's own image objects, in the state buse's run left them.
        result["floor_cpu_us_per_io"], result["floor_iops"] = rados_floors.run(
            args.rados_floor_binary, "served", cluster.conf, POOL, args.runtime, block, args.rados_region_mib,
            environment=cluster.environment, object_prefix=f"buse_data.{IMAGES['buse']}.")
    return result


def prepare_images(args, cluster, contenders, workdir):
    """Creates each contender's image and writes its workload region once, in 4 MiB requests."""
    size = f"{args.rados_image_gib}G"
    fill = ["--rw=write", "--bs=4m", "--iodepth=16", f"--size={args.rados_region_mib}m", "--refill_buffers"]
    prepared = set()
    for name in contenders:
        if name not in IMAGES or IMAGES[name] in prepared:
            continue
        prepared.add(IMAGES[name])
        print(f"creating and writing {POOL}/{IMAGES[name]} ({size}, first {args.rados_region_mib} MiB written) ...",
              flush=True)
        if name in BUSE:
            cluster.run([args.buse, "image", "create", f"{POOL}/{IMAGES[name]}", "--size", size,
                         "--conf", cluster.conf])
            server = start_server(name, args, cluster, workdir)
            try:
                run_fio("precondition", ["--ioengine=nbd", f"--uri={server.uri}", *fill], 600, workdir)
            finally:
                server.stop()
        else:
            cluster.run(["rbd", "create", f"{POOL}/{IMAGES[name]}", "--size", size])
            run_fio("precondition", librbd_options(name, args) + fill, 600, workdir, environment=cluster.environment)


def run_section(args, env):
    """The whole RADOS comparison: cluster up, images, runs, cluster down. Returns (markdown, data)."""
    contenders = args.rados_contenders
    workdir = tempfile.mkdtemp(prefix=f"buse-bench-rados-{os.getpid()}-", dir=args.dir)
    try:
        args.rados_floor_binary = rados_floors.build(workdir) if "buse" in contenders else None
        with Cluster(memstore_bytes=8 << 30) as cluster:
            settings = {name: cluster.setting(name) for name in LIBRBD_SETTINGS}
            env["ceph"] = cluster.run(["ceph", "--version"]).strip()
            prepare_images(args, cluster, contenders, workdir)
            load_before = load_average()
            results, errors = run_all(args, cluster, contenders, workdir)
            load_after = load_average()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report(args, env, contenders, results, errors, settings, load_before, load_after)


def run_all(args, cluster, contenders, workdir):
    return run_rotated(
        WORKLOADS, contenders, args.reps, lambda name, workload: measure(name, workload, args, cluster, workdir),
        label_prefix="rados ", label_width=44)


def load_average():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


# ---------------------------------------------------------------- report

def ratio(summary, workload, peer, mine="buse"):
    buse, other = summary[workload.name].get(mine), summary[workload.name].get(peer)
    if not buse or not other or not other[workload.metric]:
        return None
    return buse[workload.metric] / other[workload.metric]


def hop_costs(summary):
    """Per workload, what crossing NBD costs the machine per I/O, beside what librbd costs it.

    See "The NBD hop" in this module's docstring. A measurement, not a bound: per-I/O costs move with the
    I/O rate and with the memstore OSD's state, so buse's ratio can land above or below 1 / (1 + share).
    """
    rows = []
    for w in WORKLOADS:
        hop = summary[w.name].get(HOP)
        if not hop:
            continue
        server_kernel = hop["cpu_us_per_io"] - hop["user_us_per_io"]
        for peer in LIBRBD:
            librbd = summary[w.name].get(peer)
            if not librbd:
                continue
            client = fio_cpu_us_per_io(hop) - fio_cpu_us_per_io(librbd)
            total = client + server_kernel
            rows.append([w.name, peer, f"{librbd['machine_cpu_us_per_io']:.1f}", f"{client:.1f}", f"{server_kernel:.1f}",
                         f"{total:.1f}", f"{100 * total / librbd['machine_cpu_us_per_io']:.0f}%"])
    if not rows:
        return []
    header = ["workload", "beside", "librbd machine CPU µs/IO", "hop: client µs/IO", "hop: server kernel µs/IO",
              "hop µs/IO", "hop / librbd"]
    return ["### What the NBD hop costs", "",
            "buse on rados: does what librbd does and also carries every byte across NBD. `nbd-hop` (buse serving "
            "memory: the same way) prices that hop: the client's part is fio's CPU per I/O through NBD beyond its "
            "CPU per I/O with librbd, the server's is nbd-hop's kernel CPU per I/O (its user CPU, the NBD logic and "
            "the memory copy, is left out). Where the cores are the limit, buse / librbd tends to 1 / (1 + hop / "
            "librbd); a measurement, not a bound: per-I/O costs move with the I/O rate and the OSD's state.", "",
            markdown_table(header, rows), ""]


def report(args, env, contenders, results, errors, settings, load_before, load_after):
    summary = {w: {c: medians(runs) for c, runs in by_contender.items()} for w, by_contender in results.items()}
    pairs = [(m, p) for m, p in PAIRS if m in contenders and p in contenders]
    if "buse" in contenders and "qemu-nbd" in contenders:
        pairs.append(("buse", "qemu-nbd"))
    compared = [c for c in contenders if c != HOP]
    rows = []
    for w in WORKLOADS:
        row = [w.name, "MB/s" if w.large else "IOPS"]
        row += [fmt((summary[w.name][c] or {}).get(w.metric), ".0f") for c in compared]
        row += [fmt(ratio(summary, w, p, m), ".2f") for m, p in pairs]
        rows.append(row)
    header = ["workload", "metric", *compared, *[f"{m}/{p}" for m, p in pairs]]
    detail_header = ["workload", "contender", "IOPS", "MB/s", "mean clat µs", "server CPU µs/IO", "server CPU %",
                     "peak RSS MiB", "fio CPU %", "machine CPU µs/IO", "machine busy %"]
    detail = []
    for w in WORKLOADS:
        for c in contenders:
            m = summary[w.name][c]
            if m is None:
                detail.append([w.name, c, "failed"] + [""] * (len(detail_header) - 3))
                continue
            server = c not in LIBRBD
            per_server = [f"{m['cpu_us_per_io']:.2f}", f"{m['server_cpu_pct']:.0f}", f"{m['peak_rss_mib']:.1f}"]
            detail.append([w.name, c, f"{m['iops']:.0f}", f"{m['mbps']:.1f}", f"{m['lat_us']:.1f}",
                           *(per_server if server else ["—"] * 3), f"{m['fio_cpu_pct']:.0f}",
                           f"{m['machine_cpu_us_per_io']:.1f}", f"{m['machine_busy_pct']:.0f}"])
    bar_lines, bars_data = [], []

    def bar(verdict, text, detail):
        bar_lines.append(f"- {verdict:7} {text}" + (f" ({detail})" if detail else ""))
        bars_data.append({"bar": text, "verdict": verdict, "detail": detail})

    for mine, peer in PAIRS:
        known = [(w.name, r) for w in WORKLOADS if (r := ratio(summary, w, peer, mine)) is not None]
        verdict = "n/a" if len(known) < len(WORKLOADS) else ("met" if all(r >= BAR for _, r in known) else "NOT met")
        bar(verdict, f"{mine} >= {BAR}x {peer} on every workload", ", ".join(f"{n} {r:.2f}×" for n, r in known))
    # Issue 15: buse's own CPU per write, which holds on any machine (the OSD's cost does not).
    for workload, limit in CPU_BARS:
        m = summary.get(workload, {}).get("buse")
        verdict = "n/a" if m is None else ("met" if m["cpu_us_per_io"] <= limit else "NOT met")
        floor = "" if m is None or "floor_cpu_us_per_io" not in m else \
            f"; the C served floor beside it {m['floor_cpu_us_per_io']:.1f} µs, buse / floor " \
            f"{m['cpu_us_per_io'] / m['floor_cpu_us_per_io']:.2f}"
        bar(verdict, f"buse's own CPU per write on {workload} <= {limit} µs",
            "" if m is None else f"{m['cpu_us_per_io']:.1f} µs{floor}")
    cache = ", ".join(f"{k}={v}" for k, v in settings.items())
    text = [
        "## RADOS: librbd direct, qemu-nbd on rbd:, buse on rados:",
        "",
        "Contenders: `librbd` is fio's rbd engine with librbd's defaults, under which a write is acknowledged once "
        "sent, before the OSD holds it (rbd_cache_policy=writearound; setting rbd_cache_max_dirty=0 measured 4K "
        "write latency at iodepth 1 going from about 260 µs to about 1 ms). `librbd-wt` is the same with "
        "rbd_cache_max_dirty=0, librbd's documented write-through mode: a write is acknowledged once the OSD holds it, "
        "as buse does by default (`buse`). `buse-wa` is buse with `write-around=" + BUSE_WRITE_AROUND + "`, "
        "acknowledging like librbd's default within the same 24 MiB budget. Each buse mode is compared with the librbd "
        "mode that promises the same.",
        "",
        f"{env.get('ceph', 'ceph ?')}: a private one-node cluster (memstore OSD, pool size 1) on 127.0.0.1. "
        f"{args.rados_image_gib} GiB images, the first {args.rados_region_mib} MiB written before the runs and used "
        f"by every workload. librbd: fio's rbd engine; qemu-nbd and buse: fio's nbd engine over TCP loopback. "
        f"{args.runtime} s per run, median of {args.reps}; load average before {' '.join(load_before)}, "
        f"after {' '.join(load_after)}. librbd settings (defaults, for librbd and qemu-nbd's driver alike): {cache}.",
        "",
        "### Summary (IOPS for 4K, MB/s for 1M)",
        "",
        markdown_table(header, rows),
        "",
        "### Detail",
        "",
        "Server CPU µs/IO, server CPU % (of one core) and peak RSS are the NBD server's (librbd direct has no "
        "server: its work is in fio's CPU %). Machine CPU µs/IO and machine busy % cover every process while fio "
        "ran (client, server, OSD, monitor, kernel): where the machine is near 100% busy for both sides of a ratio, "
        "the ratio is the inverse of their machine CPU per I/O.",
        "",
        markdown_table(detail_header, detail),
        "",
        *hop_costs(summary),
        "### Bar",
        "",
        *bar_lines,
    ]
    if errors:
        text += ["", "### Failed runs", "", *[f"- {e}" for e in errors]]
    data = {"runs": results, "medians": summary, "errors": errors, "librbd_settings": settings,
            "bars": bars_data}
    return "\n".join(text) + "\n", data


if __name__ == "__main__":
    sys.exit("run bench/run.py --rados")
