#!/usr/bin/env python3
"""Snapshotter benchmark: `buse snapshotter serve` against containerd 1.6's
built-in overlayfs snapshotter, side by side in one containerd.

One private containerd (its own config, root and state under a directory
on the same filesystem as the images, its sockets in a short temporary
directory, CRI disabled) loads buse as the proxy snapshotter `buse` beside
its own `overlayfs`; both keep their snapshots on that filesystem.
Contenders alternate, the order rotated every repetition (A B, B A, ...);
medians are reported with buse's ratio to overlayfs.

  import   `ctr images import --snapshotter X` of a 4-layer, ~1 GiB image
           (uncompressed layers, so the time is the unpacking's: a base of
           30,000 files with a static busybox, then 2,000 files, then 200
           files and 100 whiteouts, then 8 large files) into a fresh
           namespace: containerd writes the blobs into its content store
           (the same work for both; in a fresh namespace it receives and
           writes every blob again even when they are already there,
           measured), then unpacks
           (Prepare, apply, Commit per layer). Also the CPU time of
           containerd, the snapshotter and ctr, steadier than wall time on a
           shared machine. Bar: <= 1.1x overlayfs.
  start    `ctr run --rm --snapshotter X IMAGE ID /bin/true` (Prepare, mount,
           runc run, then Remove), p50 over --start-runs runs each. Bar: <= 1.2x.
  diff     `buse layers diff` against containerd's walking differ (`ctr
           snapshots diff`) of an active snapshot with 10 changed paths over a
           lower of --diff-files files, then of 10 times as many (by
           bench/layers_diff_bench.py). Bars: >= 50x faster, and the fast diff
           flat (<= 1.5x its time) when the lower grows 10x. Writing and
           removing a million files takes minutes on a loaded disk.
  space    10 images sharing a 500 MiB base, each with a 20 MiB layer of its
           own, imported from one archive: the snapshotter's growth on disk
           (`du` of its root before and after) against the sum of the unique
           layers (`du` of the generated trees). Bar: <= 1.05x.

The images are generated deterministically (a seeded pseudo-random byte
pool; tar with sorted names, zero mtimes and owners) and kept in the work
directory, so a second run reuses them. Needs root.

Usage
  python3 bench/snapshotter_bench.py --buse .build/release/buse [--reps 4] [--results DIR]
  python3 bench/snapshotter_bench.py --buse ... --quick       # small images, few runs: tries the script
"""

import argparse
import datetime
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import die_with_parent, markdown_table  # noqa: E402
import layers_diff_bench  # noqa: E402

MIB = 1 << 20
CONTENDERS = ["buse", "overlayfs"]
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
POOL_BYTES = 64 * MIB


class Scale:
    """Sizes of the generated images: full, or small for --quick."""

    def __init__(self, quick):
        factor = 10 if quick else 1
        # (files, mean size, files per directory) per layer of the import image: ~1 GiB in all.
        self.import_layers = [
            (30_000 // factor, 10_000, 1000),
            (2_000 // factor, 150_000, 200),
            (200 // factor, MIB, 50),
            (8, 24 * MIB // factor, 8),
        ]
        self.whiteouts = 100 // factor
        self.space_images = 10
        self.space_base_files, self.space_base_file_bytes = 5_000 // factor, 100 * 1024  # 500 MiB
        self.space_top_files, self.space_top_file_bytes = 20 // factor, MIB  # 20 MiB each
        self.name = "quick" if quick else "full"


# ---------------------------------------------------------------- images

class Content:
    """Deterministic file contents: slices of one seeded pseudo-random pool."""

    def __init__(self, seed):
        self.pool = memoryview(random.Random(seed).randbytes(POOL_BYTES))

    def write(self, path, size, rng):
        with open(path, "wb") as f:
            while size > 0:
                length = min(size, POOL_BYTES // 2)
                start = rng.randrange(POOL_BYTES - length + 1)
                f.write(self.pool[start:start + length])
                size -= length


def write_files(root, prefix, count, mean, per_directory, content, rng):
    """`count` files of sizes uniform in [0, 2 * mean], `per_directory` to a directory."""
    for index in range(count):
        directory = os.path.join(root, f"{prefix}{index // per_directory:04d}")
        if index % per_directory == 0:
            os.makedirs(directory, exist_ok=True)
        content.write(os.path.join(directory, f"f{index:06d}"), rng.randint(0, 2 * mean), rng)


def add_busybox(root):
    """A static busybox at /bin/busybox with /bin/true and /bin/sh: what `ctr run` starts."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise SystemExit("snapshotter_bench: busybox is missing (busybox-static; scripts/install-packages.sh bench)")
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy(busybox, os.path.join(root, "bin", "busybox"))
    os.chmod(os.path.join(root, "bin", "busybox"), 0o755)
    for name in ("true", "sh"):
        os.symlink("busybox", os.path.join(root, "bin", name))


def du_bytes(path):
    """Bytes allocated under `path` (`du -s`, a hard-linked inode counted once)."""
    output = subprocess.run(["du", "-s", "-B1", path], check=True, capture_output=True, text=True).stdout
    return int(output.split()[0])


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Layout:
    """An OCI image layout being written: layer blobs from trees, images naming them."""

    def __init__(self, path):
        self.path = path
        self.blobs = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blobs)
        self.index = []

    def put(self, data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.blobs, digest), "wb") as f:
            f.write(data)
        return "sha256:" + digest, len(data)

    def layer(self, tree):
        """The uncompressed tar of `tree` as a blob; its descriptor (also its diff ID)."""
        raw = os.path.join(self.path, "layer.tar")
        subprocess.run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
                        "-C", tree, "-cf", raw, "."], check=True)
        digest = sha256_file(raw)
        size = os.path.getsize(raw)
        os.replace(raw, os.path.join(self.blobs, digest))
        return {"mediaType": LAYER_MEDIA_TYPE, "digest": "sha256:" + digest, "size": size}

    def image(self, name, layers):
        """An image of `layers` (bottom first) named `name` for `ctr images import`."""
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        }, sort_keys=True).encode()
        config_digest, config_size = self.put(config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": config_size},
            "layers": layers,
        }, sort_keys=True).encode()
        digest, size = self.put(manifest)
        self.index.append({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
            # ctr names an imported image by this annotation.
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
        })

    def archive(self, path):
        with open(os.path.join(self.path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.index}, f)
        subprocess.run(["tar", "-C", self.path, "-cf", path, "."], check=True)


def build_images(directory, scale):
    """The two archives (import, space) and what is known of them, built once per scale and kept."""
    done = os.path.join(directory, "images.json")
    if os.path.exists(done):
        with open(done) as f:
            return json.load(f)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    old_umask = os.umask(0o022)
    try:
        started = time.monotonic()
        info = {"import": build_import_image(directory, scale), "space": build_space_images(directory, scale)}
        print(f"images built in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        os.umask(old_umask)
    with open(done, "w") as f:
        json.dump(info, f, indent=1)
    return info


def build_import_image(directory, scale):
    content = Content(seed=1)
    rng = random.Random(2)
    layout = Layout(os.path.join(directory, "layout-import"))
    layers, files = [], 0
    for number, (count, mean, per_directory) in enumerate(scale.import_layers):
        tree = os.path.join(directory, f"tree-import-{number}")
        os.makedirs(tree)
        print(f"  import image: layer {number + 1} of {len(scale.import_layers)} ({count} files)", flush=True)
        write_files(tree, f"l{number}d", count, mean, per_directory, content, rng)
        if number == 0:
            add_busybox(tree)
        if number == 2:
            # Whiteouts of base files: deletions a real image's upper layers make.
            for index in range(scale.whiteouts):
                base_directory = f"l0d{index // scale.import_layers[0][2]:04d}"
                os.makedirs(os.path.join(tree, base_directory), exist_ok=True)
                open(os.path.join(tree, base_directory, f".wh.f{index:06d}"), "wb").close()
        files += count
        layers.append(layout.layer(tree))
        shutil.rmtree(tree)
    name = "docker.io/library/snapbench-import:latest"
    layout.image(name, layers)
    archive = os.path.join(directory, "import.tar")
    layout.archive(archive)
    shutil.rmtree(layout.path)
    return {"archive": archive, "name": name, "files": files, "layers": len(layers),
            "bytes": sum(layer["size"] for layer in layers)}


def build_space_images(directory, scale):
    content = Content(seed=3)
    rng = random.Random(4)
    layout = Layout(os.path.join(directory, "layout-space"))
    base = os.path.join(directory, "tree-space-base")
    os.makedirs(base)
    print(f"  space images: base ({scale.space_base_files} files)", flush=True)
    add_busybox(base)
    for index in range(scale.space_base_files):
        directory_name = os.path.join(base, f"base{index // 500:03d}")
        os.makedirs(directory_name, exist_ok=True)
        content.write(os.path.join(directory_name, f"f{index:05d}"), scale.space_base_file_bytes, rng)
    unique = du_bytes(base)
    base_layer = layout.layer(base)
    shutil.rmtree(base)
    names = []
    for number in range(scale.space_images):
        top = os.path.join(directory, f"tree-space-{number}")
        os.makedirs(os.path.join(top, f"app{number}"))
        for index in range(scale.space_top_files):
            content.write(os.path.join(top, f"app{number}", f"f{index:03d}"), scale.space_top_file_bytes, rng)
        unique += du_bytes(top)
        name = f"docker.io/library/snapbench-space-{number}:latest"
        layout.image(name, [base_layer, layout.layer(top)])
        names.append(name)
        shutil.rmtree(top)
    archive = os.path.join(directory, "space.tar")
    layout.archive(archive)
    shutil.rmtree(layout.path)
    return {"archive": archive, "names": names, "unique_bytes": unique}


# ---------------------------------------------------------------- containerd

class PrivateContainerd:
    """containerd 1.6 with its own config, root, state and socket under `work`
    (CRI disabled), `buse snapshotter serve` as its proxy snapshotter `buse`."""

    def __init__(self, buse, work, sockets):
        self.work = work
        # Sockets in a short directory of their own: a Unix socket's path is at most 107 bytes.
        self.socket = os.path.join(sockets, "containerd.sock")
        self.buse_root = os.path.join(work, "buse-root")
        self.overlay_root = os.path.join(work, "containerd-root", "io.containerd.snapshotter.v1.overlayfs")
        buse_socket = os.path.join(sockets, "buse.sock")
        config = os.path.join(work, "config.toml")
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{work}/containerd-root"\nstate = "{work}/containerd-state"\n'
                    'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    f'[grpc]\n  address = "{self.socket}"\n'
                    f'[proxy_plugins.buse]\n  type = "snapshot"\n  address = "{buse_socket}"\n')
        self.processes = []
        self.log = open(os.path.join(work, "processes.log"), "w")
        # The snapshotter first: containerd dials it with backoff, but a call before it listens fails.
        self.buse = self.spawn([buse, "snapshotter", "serve", "--root", self.buse_root, "--socket", buse_socket])
        self.wait_for(buse_socket, "buse snapshotter serve")
        self.containerd = self.spawn(["containerd", "--config", config])
        self.wait_for(self.socket, "containerd")

    def spawn(self, command):
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                   preexec_fn=die_with_parent)
        self.processes.append(process)
        return process

    def wait_for(self, path, what):
        deadline = time.monotonic() + 60
        while not os.path.exists(path):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"{what} did not start; see {self.work}/processes.log")
            time.sleep(0.05)

    def ctr(self, namespace, *arguments, quiet=True):
        """Runs `ctr -n NAMESPACE ARGUMENTS`; it must succeed."""
        result = subprocess.run(["ctr", "-a", self.socket, "-n", namespace, *arguments], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ctr -n {namespace} {' '.join(arguments)}: exit {result.returncode}: "
                               f"{result.stderr.strip()[-1000:]}")
        if not quiet:
            print(result.stdout, end="")
        return result.stdout

    def cpu_seconds(self):
        """CPU time (user + system, all threads) so far of containerd, of the snapshotter, and
        of every child of this script that has ended (the ctr runs): on a loaded machine, a
        steadier measure of the work than wall time."""
        times = []
        for process in (self.containerd, self.buse):
            with open(f"/proc/{process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            times.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (*times, children.ru_utime + children.ru_stime)

    def root_of(self, snapshotter):
        return self.buse_root if snapshotter == "buse" else self.overlay_root

    def snapshots(self, namespace, snapshotter):
        return [line for line in self.ctr(namespace, "snapshots", "--snapshotter", snapshotter, "ls").splitlines()[1:]
                if line.strip()]

    def forget(self, namespace, snapshotter, images):
        """Removes `images` and lets the collector remove their snapshots and
        content references, then the namespace; checks no snapshot is left."""
        self.ctr(namespace, "images", "rm", "--sync", *images)
        left = self.snapshots(namespace, snapshotter)
        if left:
            raise RuntimeError(f"{len(left)} {snapshotter} snapshots left in {namespace} after the images' removal")
        self.ctr(namespace, "namespaces", "rm", namespace)

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.log.close()


def unmount_under(path):
    """Unmounts whatever a failed run left mounted under `path`, deepest first."""
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(path + "/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- phases

def rotated(rep):
    return CONTENDERS[rep % 2:] + CONTENDERS[:rep % 2]


def measure_import(containerd, image, reps):
    """Import times per contender, each into a fresh namespace, forgotten after."""
    times = {name: [] for name in CONTENDERS}
    cpu = {name: [] for name in CONTENDERS}
    for rep in range(reps):
        for name in rotated(rep):
            namespace = f"import-{name}-{rep}"
            subprocess.run(["sync"], check=True)  # earlier writes and removals out of the way
            cpu_before = containerd.cpu_seconds()
            started = time.monotonic()
            containerd.ctr(namespace, "images", "import", "--snapshotter", name, image["archive"])
            elapsed = time.monotonic() - started
            shares = [after - before for after, before in zip(containerd.cpu_seconds(), cpu_before)]
            cpu[name].append(sum(shares))
            layers = len(containerd.snapshots(namespace, name))
            if layers != image["layers"]:
                raise RuntimeError(f"{name}: {layers} snapshots after import, expected {image['layers']}")
            times[name].append(elapsed)
            print(f"  import rep {rep + 1}/{reps} {name:9} {elapsed:7.2f} s, {cpu[name][-1]:6.2f} CPU s (containerd "
                  f"{shares[0]:.2f}, buse {shares[1]:.2f}, ctr {shares[2]:.2f})", flush=True)
            containerd.forget(namespace, name, [image["name"]])
    return times, cpu


def measure_start(containerd, image, runs):
    """`ctr run --rm` of /bin/true, alternating contenders run by run."""
    namespace = "start"
    for name in CONTENDERS:
        containerd.ctr(namespace, "images", "import", "--snapshotter", name, image["archive"])
    times = {name: [] for name in CONTENDERS}
    cpu = {name: [] for name in CONTENDERS}
    for run in range(runs):
        for name in rotated(run):
            # runc's container ids are machine-wide: this process's id keeps them apart from other runs'.
            container = f"snapbench-{os.getpid()}-{name}-{run}"
            cpu_before = sum(containerd.cpu_seconds())
            started = time.monotonic()
            containerd.ctr(namespace, "run", "--rm", "--snapshotter", name, image["name"], container, "/bin/true")
            times[name].append(time.monotonic() - started)
            cpu[name].append(sum(containerd.cpu_seconds()) - cpu_before)
    for name in CONTENDERS:
        print(f"  start {name:9} p50 {statistics.median(times[name]) * 1000:7.1f} ms over {runs} runs, "
              f"CPU p50 {statistics.median(cpu[name]) * 1000:6.1f} ms", flush=True)
    containerd.ctr(namespace, "images", "rm", "--sync", image["name"])
    for name in CONTENDERS:
        left = containerd.snapshots(namespace, name)
        if left:
            raise RuntimeError(f"{len(left)} {name} snapshots left after the start runs")
    return times, cpu


def measure_space(containerd, images):
    """Growth of each snapshotter's root on importing the space images."""
    grown = {}
    for name in CONTENDERS:
        namespace = f"space-{name}"
        root = containerd.root_of(name)
        subprocess.run(["sync"], check=True)
        before = du_bytes(root)
        containerd.ctr(namespace, "images", "import", "--snapshotter", name, images["archive"])
        subprocess.run(["sync"], check=True)
        grown[name] = du_bytes(root) - before
        snapshots = len(containerd.snapshots(namespace, name))
        print(f"  space {name:9} {grown[name] / MIB:8.1f} MiB for {len(images['names'])} images "
              f"({snapshots} snapshots)", flush=True)
        if snapshots != 1 + len(images["names"]):
            raise RuntimeError(f"{name}: {snapshots} snapshots, expected the shared base and one per image")
        containerd.forget(namespace, name, images["names"])
    return grown


# ---------------------------------------------------------------- report

def verdict(ok):
    return "met" if ok else "NOT met"


def report(args, info, imports, starts, diffs, space):
    rows, bars = [], []
    if imports:
        times, cpu = imports
        buse, overlay = (statistics.median(times[n]) for n in CONTENDERS)
        rows.append([f"import {info['import']['bytes'] / MIB:.0f} MiB, {info['import']['layers']} layers, "
                     f"{info['import']['files']} files: s (median of {args.reps})",
                     f"{buse:.2f}", f"{overlay:.2f}", f"{buse / overlay:.2f}×"])
        rows.append(["import: CPU s of containerd, snapshotter and ctr (median)",
                     *[f"{statistics.median(cpu[n]):.2f}" for n in CONTENDERS],
                     f"{statistics.median(cpu['buse']) / statistics.median(cpu['overlayfs']):.2f}×"])
        bars.append(("import ≤ 1.1× overlayfs", verdict(buse <= 1.1 * overlay), f"{buse / overlay:.2f}×"))
    if starts:
        times, cpu = starts
        buse, overlay = (statistics.median(times[n]) * 1000 for n in CONTENDERS)
        rows.append([f"`ctr run --rm` /bin/true: p50 ms of {args.start_runs}", f"{buse:.1f}", f"{overlay:.1f}",
                     f"{buse / overlay:.2f}×"])
        p90 = [sorted(times[n])[int(len(times[n]) * 0.9)] * 1000 for n in CONTENDERS]
        rows.append(["`ctr run --rm` /bin/true: p90 ms", f"{p90[0]:.1f}", f"{p90[1]:.1f}", f"{p90[0] / p90[1]:.2f}×"])
        start_cpu = [statistics.median(cpu[n]) * 1000 for n in CONTENDERS]
        rows.append(["start: CPU ms of containerd, snapshotter and ctr (median)", f"{start_cpu[0]:.1f}",
                     f"{start_cpu[1]:.1f}", f"{start_cpu[0] / start_cpu[1]:.2f}×"])
        bars.append(("start p50 ≤ 1.2× overlayfs", verdict(buse <= 1.2 * overlay), f"{buse / overlay:.2f}×"))
    if space:
        unique = info["space"]["unique_bytes"]
        for name in CONTENDERS:
            rows.append([f"space, {len(info['space']['names'])} images: {name} root growth MiB "
                         f"(unique layers {unique / MIB:.1f})",
                         f"{space[name] / MIB:.1f}" if name == "buse" else "",
                         f"{space[name] / MIB:.1f}" if name == "overlayfs" else "",
                         f"{space[name] / unique:.3f}× unique"])
        bars.append(("space ≤ 1.05× the unique layers", verdict(space["buse"] <= 1.05 * unique),
                     f"{space['buse'] / unique:.3f}×"))
    lines = [markdown_table(["measure", "buse", "overlayfs", "buse / overlayfs"], rows), ""] if rows else []
    if diffs:
        diff_rows = [[f"{files:,}", f"{walking:.3f}", f"{fast:.3f}", f"{floor:.3f}", f"{walking / fast:.0f}×"]
                     for files, (walking, fast, floor) in diffs]
        lines += [markdown_table(
            [f"diff, 10 changed paths over a lower of (median of {args.diff_reps})", "`ctr snapshots diff` s",
             "`buse layers diff` s", "of which start-up s", "faster"], diff_rows)]
        (_, (walking, fast, _)), (_, (walking_10x, fast_10x, _)) = diffs
        bars.append(("diff ≥ 50× the walking differ", verdict(walking / fast >= 50),
                     f"{walking / fast:.0f}×, {walking_10x / fast_10x:.0f}× at 10× the files"))
        bars.append(("diff flat (≤ 1.5×) when the lower grows 10×", verdict(fast_10x <= 1.5 * fast),
                     f"{fast_10x / fast:.2f}×; the walking differ {walking_10x / walking:.1f}×"))
        lines.append("")
    lines += [f"- {v:7} {text} ({detail})" for text, v, detail in bars]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buse", required=True, help="path to the release buse binary")
    parser.add_argument("--reps", type=int, help="imports per snapshotter, made even (default 4; 2 with --quick)")
    parser.add_argument("--start-runs", type=int, help="container starts per snapshotter (default 50; 5 with --quick)")
    parser.add_argument("--diff-files", type=int,
                        help="files in the diff's lower, then 10 times as many (default 100000; 10000 with --quick)")
    parser.add_argument("--diff-reps", type=int, help="diffs per differ and size (default 3; 1 with --quick)")
    parser.add_argument("--only", default="import,start,diff,space", help="comma-separated phases to run")
    parser.add_argument("--workdir", default=os.path.join(os.getcwd(), "results", "snapshotter-bench"),
                        help="images (kept) and the private containerd (removed); on the disk to measure")
    parser.add_argument("--results", default=os.path.join(os.getcwd(), "results"))
    parser.add_argument("--quick", action="store_true",
                        help="images a tenth the size, 2 imports, 5 starts, a 10,000-file diff: to try the script")
    args = parser.parse_args()
    defaults = {"reps": (4, 2), "start_runs": (50, 5), "diff_files": (100_000, 10_000), "diff_reps": (3, 1)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    # An import right after the other snapshotter's was measured slower (by up to half) than
    # one after its own: with an even number of repetitions each contender takes each place
    # equally often (A B, B A, ...).
    args.reps += args.reps % 2
    if args.diff_files < 4000:
        parser.error("--diff-files must be at least 4000: the changed paths are in the first four directories")
    args.phases = {p.strip() for p in args.only.split(",") if p.strip()}
    if args.phases - {"import", "start", "diff", "space"}:
        parser.error(f"unknown phase(s) in --only: {', '.join(sorted(args.phases - {'import', 'start', 'diff', 'space'}))}")
    if os.geteuid() != 0:
        parser.error("needs root (containerd, mounts, runc)")
    if not os.access(args.buse, os.X_OK):
        parser.error(f"--buse {args.buse} is not an executable file")
    for tool in ("containerd", "ctr", "runc", "busybox", "tar", "du"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is missing (scripts/install-packages.sh bench installs it)")
    args.buse = os.path.abspath(args.buse)
    return args


def main():
    args = parse_arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    scale = Scale(args.quick)
    os.makedirs(args.workdir, exist_ok=True)
    print(f"building the images (once; kept in {args.workdir}) ...", flush=True)
    info = build_images(os.path.join(args.workdir, f"images-{scale.name}"), scale)
    load_before = os.getloadavg()
    imports = starts = space = None
    diffs = []
    work = os.path.join(args.workdir, f"run-{os.getpid()}")
    os.makedirs(work)
    sockets = tempfile.mkdtemp(prefix="snapbench-")
    containerd = None
    try:
        if args.phases & {"import", "start", "space"}:
            containerd = PrivateContainerd(args.buse, work, sockets)
            if "import" in args.phases:
                print(f"import: {args.reps} per snapshotter, alternating", flush=True)
                imports = measure_import(containerd, info["import"], args.reps)
            if "start" in args.phases:
                print(f"start: {args.start_runs} per snapshotter, alternating", flush=True)
                starts = measure_start(containerd, info["import"], args.start_runs)
            if "space" in args.phases:
                print("space:", flush=True)
                space = measure_space(containerd, info["space"])
            containerd.stop()
            containerd = None
        if "diff" in args.phases:
            for files in (args.diff_files, 10 * args.diff_files):
                print(f"diff: a lower of {files} files, {args.diff_reps} per differ", flush=True)
                # Its own containerd, in /tmp (socket paths must be short).
                diffs.append((files, layers_diff_bench.measure(args.buse, files, args.diff_reps)))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if containerd is not None:
            containerd.stop()
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)
    load_after = os.getloadavg()
    header = (f"# buse snapshotter against containerd's overlayfs, {datetime.datetime.now().isoformat(timespec='seconds')}"
              f"\n\n{os.cpu_count()} CPUs, load {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
              f"{'quick' if args.quick else 'full'} scale; {args.buse}.\n\n")
    text = header + report(args, info, imports, starts, diffs if len(diffs) == 2 else None, space)
    print("\n" + text)
    os.makedirs(args.results, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(args.results, f"snapshotter-bench-{stamp}.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
