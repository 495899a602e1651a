"""The C floor under issue 15's per-I/O bars, measured in the same bench run.

bench/pipeline_floor.c is the least a server of buse's shape can do, in C
(see its header): requests read in batches and `pwrite` to a tmpfs file, and,
replicated, a primary that forwards each batch to a replica and a second
thread that reads the acknowledgements and answers the client. Each bar of
the replication report is a ratio of two buse runs; this module measures the
same ratio for the C floor, so the report can say, beside each bar, whether
any server of this shape could meet it on this machine.

The machine ratio here sums the floor's three processes (server, replica
and its own client, from rusage); the bench's machine figure for buse is
/proc/stat's busy time, which also counts the kernel's threads, so the two
agree only where those are idle (loopback's softirqs mostly run in the
sending process).

The same ratios are measured for the floor of the other shape, `one-thread`:
a primary that is one thread polling both sockets (buse's primary reads each
socket on a thread of its own). A bar both floors miss is out of reach for
either shape on this machine; one that only buse's shape misses says what a
change of shape could buy.

At iodepth 1 what decides latency and CPU is how the readers wait, and how
long the client takes to send its next request: so the floor of buse's shape
is measured there under fio's nbd engine, the client buse is measured with
(the floor's own client turns a reply around in a fraction of fio's time,
which makes the replica's round trip a larger share of each write), with its
server readers blocking in recv and with them polling first for as long as
buse's do (QD1_POLLS_US). A pair of iodepth-1 bars (latency and CPU) that the
floor meets at no poll length is out of reach for that shape on this machine.

Compiled with `cc` into the work directory; --reps rounds (unreplicated, then
each replicated shape) per block size, alternating, --runtime s each; medians
of the per-round ratios.
"""

import os
import re
import shutil
import statistics
import subprocess

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline_floor.c")
BLOCKS = {"4k-randwrite-qd16": 4096, "1m-seqwrite-qd16": 1 << 20}
# The primary's shapes: "replicated" is buse's (a reading thread per socket).
SHAPES = ("replicated", "one-thread")
QD1_WORKLOAD = "4k-randwrite-qd1"
# Server readers blocking at once, and polling as long as buse's (Socket.pollNanoseconds, 150 µs).
QD1_POLLS_US = (0, 150)


def run(workdir, runtime, reps):
    """{workload: {shape: {"primary": ratio, "replica": ratio, "machine": ratio}}}, medians over `reps` rounds,
    and for QD1_WORKLOAD {poll µs: {"latency": ratio, "cpu": ratio}} of buse's shape."""
    binary = os.path.join(workdir, "pipeline_floor")
    subprocess.run(["cc", "-O2", "-pthread", "-o", binary, SOURCE], check=True)
    files = os.path.join(workdir, "floor")
    os.makedirs(files, exist_ok=True)
    results = {}
    try:
        for workload, block in BLOCKS.items():
            ratios = {shape: {"primary": [], "replica": [], "machine": []} for shape in SHAPES}
            for rep in range(reps):
                print(f"replication floor {workload} {rep + 1}/{reps}", flush=True)
                plain = one_run(binary, "unreplicated", files, runtime, block)
                for shape in SHAPES:
                    for name, ratio in round_ratios(plain, one_run(binary, shape, files, runtime, block)).items():
                        ratios[shape][name].append(ratio)
            results[workload] = {shape: {name: statistics.median(values) for name, values in by_name.items()}
                                 for shape, by_name in ratios.items()}
        results[QD1_WORKLOAD] = iodepth_one(binary, files, runtime, reps)
    finally:
        shutil.rmtree(files, ignore_errors=True)
    return results


def iodepth_one(binary, files, runtime, reps):
    """{poll µs: {"latency": ratio, "cpu": ratio}}: the iodepth-1 bars' ratios for buse's shape, the server
    readers polling that long before they block (the CPU is the primary's and the replica's, as the bar's)."""
    ratios = {poll: {"latency": [], "cpu": []} for poll in QD1_POLLS_US}
    for rep in range(reps):
        print(f"replication floor {QD1_WORKLOAD} {rep + 1}/{reps}", flush=True)
        for poll in QD1_POLLS_US:
            plain = one_run(binary, "unreplicated", files, runtime, 4096, depth=1, poll_us=poll, client="fio")
            replicated = one_run(binary, "replicated", files, runtime, 4096, depth=1, poll_us=poll, client="fio")
            ratios[poll]["latency"].append(plain["writes_per_s"] / replicated["writes_per_s"])
            ratios[poll]["cpu"].append((replicated["server"] + replicated["replica"]) / plain["server"])
    return {poll: {name: statistics.median(values) for name, values in by_name.items()}
            for poll, by_name in ratios.items()}


def round_ratios(plain, replicated):
    """The bars' three ratios for one unreplicated run and one replicated run beside it."""
    replica = replicated["replica"]
    return {
        "primary": replicated["server"] / plain["server"],
        "replica": replica / plain["server"],
        "machine": (replicated["server"] + replica + replicated["client"])
                   / (plain["server"] + plain["client"] + replica),
    }


def one_run(binary, mode, directory, runtime, block, depth=16, poll_us=0, client="own"):
    """CPU µs per write of the floor's server, replica and client, and its writes per second, from the line
    it prints."""
    line = subprocess.run([binary, mode, directory, str(runtime), str(depth), str(block), str(poll_us), client],
                          check=True, capture_output=True, text=True, timeout=runtime * 4 + 120).stdout
    fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
    return {**{name: float(fields[f"{name}_cpu_us_per_write"]) for name in ("server", "replica", "client")},
            "writes_per_s": float(fields["writes_per_s"])}
