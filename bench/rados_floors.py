"""bench/rados_floor.c from Python: built once with cc, run on a cluster.

Both RADOS scripts set buse's CPU per write beside it: rados_breakdown.py
after each workload ("direct" and "served"), and `make bench --rados` right
after each buse run of a workload that issue 15 puts a CPU bar on
("served": a C server of buse's shape under the same client, the least an
NBD server on librados built like buse spends).
"""

import os
import re
import subprocess

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rados_floor.c")


def build(workdir):
    """Compiles rados_floor.c into `workdir`; the binary's path."""
    binary = os.path.join(workdir, "rados_floor")
    subprocess.run(["cc", "-O2", "-pthread", "-o", binary, SOURCE, "-lrados"], check=True)
    return binary


def run(binary, mode, conf, pool, seconds, block, region_mib, depth=16, environment=None, object_prefix=None):
    """One run of the floor ('direct' or 'served'): (CPU µs per write, writes per second). `environment` is
    added to this process's (the served floor starts fio from PATH). With `object_prefix` (an image's, as
    `buse_data.IMAGE.`) it writes that image's objects as they are; without, fresh objects of its own."""
    extra = [object_prefix] if object_prefix else []
    out = subprocess.run([binary, mode, conf, pool, str(seconds), str(depth), str(block), str(region_mib), *extra],
                         capture_output=True, text=True, check=True, env=dict(os.environ, **(environment or {}))).stdout
    match = re.search(r"([\d.]+) writes/s, ([\d.]+) us of CPU per write", out)
    if not match:
        raise RuntimeError(f"rados_floor {mode} printed no figures: {out.strip()!r}")
    return float(match.group(2)), float(match.group(1))
