#!/usr/bin/env python3
"""Layer diff speed: `buse layers diff` (the upper directory alone) against
containerd's walking differ (`ctr snapshots diff`: a View of the parent
walked against the active snapshot's mounts), on the same snapshot.

A private containerd 1.6 (its own root, state and socket under a temporary
directory, CRI disabled) loads `buse snapshotter serve` as the proxy
snapshotter `buse`. A committed parent holds --files files (1000 per
directory); an active snapshot on it changes 10 paths (4 new files, 3
rewritten, 2 deleted, 1 chmod). Each differ writes an uncompressed layer
to /dev/null, --reps times, the differs taking turns; the median wall
time is reported with the ratio. Run it again with --files 10 times
larger to see that the fast diff stays flat while the walking differ
grows. Needs root. snapshotter_bench.py calls measure() at two sizes.

Usage
  python3 bench/layers_diff_bench.py --buse .build/release/buse [--files 100000] [--reps 5]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buse", required=True)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    walking, fast, floor = measure(args.buse, args.files, args.reps)
    print()
    print("| differ (%d-file parent, 10 changed paths) | median of %d | ratio |" % (args.files, args.reps))
    print("|---|---|---|")
    print("| `ctr snapshots diff` (walking) | %.3f s | 1 |" % walking)
    print("| `buse layers diff` (upper only) | %.3f s | %.0f× faster |" % (fast, walking / fast))
    print("| `buse layers diff` of an unchanged snapshot (start-up floor) | %.3f s | |" % floor)


def measure(buse, files, reps):
    """(walking, fast, floor): median seconds of `ctr snapshots diff`, of
    `buse layers diff`, and of `buse layers diff` of an unchanged snapshot,
    over a fresh private containerd and snapshotter (also called by
    snapshotter_bench.py)."""
    buse = os.path.abspath(buse)
    work = tempfile.mkdtemp(prefix="buse-layers-bench-")
    children, mounts = [], []
    try:
        socket, root = start(work, buse, children)
        ctr = ["ctr", "-a", socket, "snapshots", "--snapshotter", "buse"]
        mnt = os.path.join(work, "mnt")
        os.makedirs(mnt)
        subprocess.check_call(ctr + ["prepare", "base-active"], stdout=subprocess.DEVNULL)
        mount(ctr, "base-active", mnt, mounts)
        started = time.monotonic()
        for index in range(files):
            directory = os.path.join(mnt, "d%04d" % (index // 1000))
            if index % 1000 == 0:
                os.mkdir(directory)
            with open(os.path.join(directory, "f%06d" % index), "wb") as f:
                f.write(b"x" * 100)
        print("parent: %d files written in %.1f s" % (files, time.monotonic() - started))
        unmount(mnt, mounts)
        started = time.monotonic()
        subprocess.check_call(ctr + ["commit", "base", "base-active"])
        print("parent committed in %.1f s (the snapshotter measures its usage)" % (time.monotonic() - started))
        subprocess.check_call(ctr + ["prepare", "work", "base"], stdout=subprocess.DEVNULL)
        mount(ctr, "work", mnt, mounts)
        for index in range(4):
            with open(os.path.join(mnt, "d0000", "new%d" % index), "wb") as f:
                f.write(b"new" * 1000)
        for index in range(3):
            with open(os.path.join(mnt, "d0001", "f%06d" % (1000 + index)), "wb") as f:
                f.write(b"rewritten")
        os.unlink(os.path.join(mnt, "d0002", "f002000"))
        os.unlink(os.path.join(mnt, "d0002", "f002001"))
        os.chmod(os.path.join(mnt, "d0003", "f003000"), 0o600)
        unmount(mnt, mounts)

        # The process's own start (runtime, LMDB open) with no upper to read: the floor of the fast diff.
        subprocess.check_call(ctr + ["prepare", "empty", "base"], stdout=subprocess.DEVNULL)
        walking, fast, floor = timed(reps, [
            ctr + ["diff", "--media-type", "application/vnd.oci.image.layer.v1.tar", "work"],
            [buse, "layers", "diff", "work", "--root", root, "--output", "/dev/null"],
            [buse, "layers", "diff", "empty", "--root", root, "--output", "/dev/null"],
        ])
        # Before the clean-up, which can take minutes for a million files on a loaded disk.
        print("walking %.3f s, fast %.3f s, start-up floor %.3f s (medians of %d)" % (walking, fast, floor, reps))
        return walking, fast, floor
    finally:
        started = time.monotonic()
        for point in reversed(mounts):
            subprocess.call(["umount", point])
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(work, ignore_errors=True)
        print("cleaned up in %.1f s" % (time.monotonic() - started))


def start(work, buse, children):
    """The snapshotter, then containerd (it dials the snapshotter with backoff)."""
    socket = os.path.join(work, "containerd.sock")
    root = os.path.join(work, "snapshots")
    with open(os.path.join(work, "config.toml"), "w") as f:
        f.write('version = 2\nroot = "%s/containerd-root"\nstate = "%s/containerd-state"\n' % (work, work))
        f.write('disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s"\n' % socket)
        f.write('[proxy_plugins.buse]\n  type = "snapshot"\n  address = "%s/buse.sock"\n' % work)
    log = open(os.path.join(work, "processes.log"), "w")
    children.append(subprocess.Popen(
        [buse, "snapshotter", "serve", "--root", root, "--socket", os.path.join(work, "buse.sock")], stdout=log, stderr=log))
    children.append(subprocess.Popen(["containerd", "--config", os.path.join(work, "config.toml")], stdout=log, stderr=log))
    deadline = time.monotonic() + 30
    while not os.path.exists(socket):
        if time.monotonic() > deadline:
            sys.exit("containerd did not start; see %s/processes.log" % work)
        time.sleep(0.1)
    return socket, root


def mount(ctr, key, target, mounts):
    command = subprocess.check_output(ctr + ["mounts", target, key], text=True)
    subprocess.check_call(["sh", "-c", command])
    mounts.append(target)


def unmount(target, mounts):
    subprocess.check_call(["umount", target])
    mounts.remove(target)


def timed(reps, commands):
    """The median wall time of each command, their output thrown away. They
    take turns, the order rotated each repetition, so that a change in the
    machine's load falls on all of them alike."""
    times = [[] for _ in commands]
    for rep in range(reps):
        for index in [(rep + offset) % len(commands) for offset in range(len(commands))]:
            started = time.monotonic()
            subprocess.check_call(commands[index], stdout=subprocess.DEVNULL)
            times[index].append(time.monotonic() - started)
    return [statistics.median(t) for t in times]


if __name__ == "__main__":
    main()
