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

Compiled with `cc` into the work directory; --reps pairs (unreplicated, then
replicated) per block size, alternating, --runtime s each; medians of the
per-pair ratios.
"""

import os
import re
import shutil
import statistics
import subprocess

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline_floor.c")
BLOCKS = {"4k-randwrite-qd16": 4096, "1m-seqwrite-qd16": 1 << 20}


def run(workdir, runtime, reps):
    """{workload: {"primary": ratio, "replica": ratio, "machine": ratio}}, medians over `reps` pairs."""
    binary = os.path.join(workdir, "pipeline_floor")
    subprocess.run(["cc", "-O2", "-pthread", "-o", binary, SOURCE], check=True)
    files = os.path.join(workdir, "floor")
    os.makedirs(files, exist_ok=True)
    results = {}
    try:
        for workload, block in BLOCKS.items():
            ratios = {"primary": [], "replica": [], "machine": []}
            for rep in range(reps):
                print(f"replication floor {workload} {rep + 1}/{reps}", flush=True)
                plain, replicated = (one_run(binary, mode, files, runtime, block)
                                     for mode in ("unreplicated", "replicated"))
                unreplicated_machine = plain["server"] + plain["client"]
                replica = replicated["replica"]
                ratios["primary"].append(replicated["server"] / plain["server"])
                ratios["replica"].append(replica / plain["server"])
                ratios["machine"].append((replicated["server"] + replica + replicated["client"])
                                         / (unreplicated_machine + replica))
            results[workload] = {name: statistics.median(values) for name, values in ratios.items()}
    finally:
        shutil.rmtree(files, ignore_errors=True)
    return results


def one_run(binary, mode, directory, runtime, block):
    """CPU µs per write of the floor's server, replica and client, from the line it prints."""
    line = subprocess.run([binary, mode, directory, str(runtime), "16", str(block)], check=True,
                          capture_output=True, text=True, timeout=runtime * 4 + 60).stdout
    fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
    return {name: float(fields[f"{name}_cpu_us_per_write"]) for name in ("server", "replica", "client")}
