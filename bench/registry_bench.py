#!/usr/bin/env python3
"""Registry benchmark: `buse registry serve` against docker-registry 2.8.2, side by side.

Both serve a root on the same filesystem (a directory under --workdir, on disk,
so their fsyncs cost what they cost), on 127.0.0.1, one at a time, in rotated
order every repetition; the median of --reps runs is reported with buse's ratio.
docker-registry is always started with a config written here (127.0.0.1, its
own root, deletes enabled), never its packaged one.

Per repetition and server, on a fresh empty root:
  push-1g    skopeo copy of an OCI image of 8 gzip layers of 128 MiB (random
             data, so gzip keeps them at 128 MiB and skopeo sends them as they
             are) to the registry: wall time, the server's CPU (utime+stime of
             all its threads from /proc, 10 ms ticks) per GiB moved, and the
             server's peak RSS (VmHWM) at the end of the push.
  pull-1g    skopeo copy of the same image back to a fresh OCI directory
             (skopeo verifies every digest): wall time, server CPU per GiB.
  blob-put   one monolithic 256 MiB blob, `POST ?digest=` by curl: MB/s.
  blob-get   the same blob read back by curl into /dev/null: MB/s.
  get-x8     8 curl GETs of that blob at once: aggregate MB/s.
Once per server (a root prepared by buse and copied, so both read the same
layout): a repository of 10,000 tags, `tags/list?n=100&last=<random tag>`
latency (p50 and p99 over 300 requests on one keep-alive connection; 2.8
ignores n/last and answers all 10,000), and for buse only (2.8 has no
referrers API) `referrers/<digest>` of a subject with 1,000 referrers.

Usage
  python3 bench/registry_bench.py --buse .build/release/buse [--reps 3] [--results DIR]
  python3 bench/registry_bench.py --buse ... --quick          # 1 rep of a small image: tries the script
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, die_with_parent, markdown_table  # noqa: E402

GIB = 1 << 30
LAYERS = 8
LAYER_BYTES = 128 << 20
BLOB_BYTES = 256 << 20
TAGS = 10_000
REFERRERS = 1_000


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_blob(layout, data_path=None, data=None):
    """Moves or writes a blob into an OCI layout; returns (digest, size)."""
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    if data is not None:
        hexdigest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, hexdigest), "wb") as f:
            f.write(data)
        return "sha256:" + hexdigest, len(data)
    hexdigest = sha256_file(data_path)
    size = os.path.getsize(data_path)
    os.replace(data_path, os.path.join(blobs, hexdigest))
    return "sha256:" + hexdigest, size


def build_image(layout):
    """An OCI layout of LAYERS gzip layers of random data (about LAYER_BYTES each), tag `bench`."""
    if os.path.exists(os.path.join(layout, "index.json")):
        return
    shutil.rmtree(layout, ignore_errors=True)
    os.makedirs(layout)
    layers = []
    diff_ids = []
    for n in range(LAYERS):
        raw = os.path.join(layout, f"layer-{n}.tar")
        source = os.path.join(layout, f"data-{n}")
        with open(source, "wb") as f:
            f.write(os.urandom(LAYER_BYTES))
        subprocess.run(["tar", "-C", layout, "-cf", raw, f"data-{n}"], check=True)
        os.remove(source)
        diff_ids.append("sha256:" + sha256_file(raw))
        subprocess.run(["gzip", "-1", "-n", raw], check=True)
        digest, size = write_blob(layout, data_path=raw + ".gz")
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    config_digest, config_size = write_blob(layout, data=config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": layers,
        }
    ).encode()
    manifest_digest, manifest_size = write_blob(layout, data=manifest)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": manifest_digest,
                        "size": manifest_size,
                        "annotations": {"org.opencontainers.image.ref.name": "bench"},
                    }
                ],
            },
            f,
        )


def image_bytes(layout):
    blobs = os.path.join(layout, "blobs", "sha256")
    return sum(os.path.getsize(os.path.join(blobs, name)) for name in os.listdir(blobs))


class Registry:
    """One registry process on 127.0.0.1 serving `root`."""

    def __init__(self, name, buse, root, workdir):
        self.name = name
        self.root = root
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, f"{name}.log")
        if name == "buse":
            command = [buse, "registry", "serve", "--root", root, "--listen", self.address, "--log-level", "warning"]
        else:
            config = os.path.join(workdir, "docker-registry.yml")
            with open(config, "w") as f:
                f.write(
                    "version: 0.1\n"
                    "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.address}\n"
                )
            command = ["docker-registry", "serve", config]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("/v2/")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: see {self.log_path}")
            time.sleep(0.1)

    def get(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.status, body

    def cpu_seconds(self):
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def timed(registry, action):
    cpu = registry.cpu_seconds()
    started = time.monotonic()
    action()
    return time.monotonic() - started, registry.cpu_seconds() - cpu


def run_once(name, args, layout, moved, blob, blob_digest, workdir):
    root = os.path.join(workdir, f"root-{name}")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    registry = Registry(name, args.buse, root, workdir)
    result = {}
    try:
        reference = f"docker://{registry.address}/bench/image:bench"
        wall, cpu = timed(
            registry,
            lambda: subprocess.run(
                ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:bench", reference], check=True
            ),
        )
        result["push-1g s"] = wall
        result["push CPU s/GiB"] = cpu / (moved / GIB)
        result["peak RSS MiB"] = registry.peak_rss_mib()
        pulled = os.path.join(workdir, "pulled")
        shutil.rmtree(pulled, ignore_errors=True)
        wall, cpu = timed(
            registry,
            lambda: subprocess.run(
                ["skopeo", "copy", "--quiet", "--src-tls-verify=false", reference, f"oci:{pulled}:bench"], check=True
            ),
        )
        shutil.rmtree(pulled, ignore_errors=True)
        result["pull-1g s"] = wall
        result["pull CPU s/GiB"] = cpu / (moved / GIB)
        base = f"http://{registry.address}/v2/bench/blob"

        def put_blob():
            # POST for a session, then one PUT with the whole body and the
            # digest (2.8 has no single-POST monolithic upload); curl -T
            # streams the file.
            connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
            connection.request("POST", "/v2/bench/blob/blobs/uploads/", headers={"Content-Length": "0"})
            response = connection.getresponse()
            response.read()
            connection.close()
            location = response.getheader("Location")
            if response.status != 202 or not location:
                raise RuntimeError(f"{name}: POST answered {response.status}")
            if location.startswith("/"):
                location = f"http://{registry.address}{location}"
            separator = "&" if "?" in location else "?"
            subprocess.run(
                ["curl", "-sf", "-o", "/dev/null", "-X", "PUT", "-H", "Content-Type: application/octet-stream",
                 "-T", blob, f"{location}{separator}digest={blob_digest}"],
                check=True,
            )

        wall, _ = timed(registry, put_blob)
        result["blob-put MB/s"] = BLOB_BYTES / wall / 1e6
        get = ["curl", "-sf", "-o", "/dev/null", f"{base}/blobs/{blob_digest}"]
        wall, _ = timed(registry, lambda: subprocess.run(get, check=True))
        result["blob-get MB/s"] = BLOB_BYTES / wall / 1e6

        def eight():
            clients = [subprocess.Popen(get) for _ in range(8)]
            if any(client.wait() != 0 for client in clients):
                raise RuntimeError("a concurrent GET failed")

        wall, _ = timed(registry, eight)
        result["get-x8 MB/s"] = 8 * BLOB_BYTES / wall / 1e6
    finally:
        registry.stop()
        shutil.rmtree(root, ignore_errors=True)
    return result


def put(connection, method, path, body=b"", headers=None):
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return response


def prepare_listing_root(args, root, workdir):
    """A root with a repository of TAGS tags and a subject with REFERRERS referrers, written through buse."""
    os.makedirs(root)
    registry = Registry("buse", args.buse, root, workdir)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
        config = b"{}"
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        for repository in ("bench/tags", "bench/refs"):
            put(connection, "POST", f"/v2/{repository}/blobs/uploads/?digest={config_digest}", config,
                {"Content-Type": "application/octet-stream"})
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
                "layers": [],
            }
        ).encode()
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        for n in range(TAGS):
            put(connection, "PUT", f"/v2/bench/tags/manifests/t{n:05d}", manifest, headers)
        subject = put(connection, "PUT", "/v2/bench/refs/manifests/subject", manifest, headers)
        subject_digest = subject.getheader("Docker-Content-Digest")
        for n in range(REFERRERS):
            referrer = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": "application/vnd.example.signature",
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": 2},
                    "layers": [],
                    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject_digest,
                                "size": len(manifest)},
                    "annotations": {"n": str(n)},
                }
            ).encode()
            digest = "sha256:" + hashlib.sha256(referrer).hexdigest()
            put(connection, "PUT", f"/v2/bench/refs/manifests/{digest}", referrer, headers)
        connection.close()
    finally:
        registry.stop()
    return subject_digest


def latencies(registry, paths):
    connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
    times = []
    for path in paths:
        started = time.monotonic()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        times.append(time.monotonic() - started)
        if response.status != 200:
            raise RuntimeError(f"{registry.name} GET {path}: {response.status}")
    connection.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000


def listings(args, workdir):
    prepared = os.path.join(workdir, "listing-root")
    shutil.rmtree(prepared, ignore_errors=True)
    print(f"preparing {TAGS} tags and {REFERRERS} referrers through buse ...", flush=True)
    subject = prepare_listing_root(args, prepared, workdir)
    rng = random.Random(1)
    tag_paths = [f"/v2/bench/tags/tags/list?n=100&last=t{rng.randrange(TAGS):05d}" for _ in range(300)]
    results = {}
    for name in ("buse", "docker-registry"):
        root = os.path.join(workdir, f"listing-{name}")
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(prepared, root, symlinks=True)
        registry = Registry(name, args.buse, root, workdir)
        try:
            results[(name, "tags p50 ms")], results[(name, "tags p99 ms")] = latencies(registry, tag_paths)
            if name == "buse":
                paths = [f"/v2/bench/refs/referrers/{subject}"] * 100
                results[(name, "referrers p50 ms")], results[(name, "referrers p99 ms")] = latencies(registry, paths)
        finally:
            registry.stop()
            shutil.rmtree(root, ignore_errors=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buse", required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workdir", default=os.path.join(os.getcwd(), "results", "registry-bench"))
    parser.add_argument("--results", default=os.path.join(os.getcwd(), "results"))
    parser.add_argument("--quick", action="store_true", help="1 rep, 8 x 16 MiB layers, 1,000 tags, 100 referrers: to try the script")
    args = parser.parse_args()
    if args.quick:
        global LAYER_BYTES, BLOB_BYTES, TAGS, REFERRERS
        LAYER_BYTES, BLOB_BYTES, TAGS, REFERRERS = 16 << 20, 32 << 20, 1_000, 100
        args.reps = 1
        args.workdir += "-quick"
    for tool in ("skopeo", "docker-registry", "curl", "gzip"):
        if shutil.which(tool) is None:
            sys.exit(f"registry_bench: {tool} is missing (scripts/install-packages.sh bench installs it)")
    os.makedirs(args.workdir, exist_ok=True)
    layout = os.path.join(args.workdir, "image")
    print("building the 1 GiB image (once; kept in the work directory) ...", flush=True)
    build_image(layout)
    moved = image_bytes(layout)
    blob = os.path.join(args.workdir, "blob-256m")
    if not os.path.exists(blob):
        with open(blob, "wb") as f:
            f.write(os.urandom(BLOB_BYTES))
    blob_digest = "sha256:" + sha256_file(blob)

    contenders = ["buse", "docker-registry"]
    runs = {name: [] for name in contenders}
    for rep in range(args.reps):
        order = contenders[rep % 2 :] + contenders[: rep % 2]
        for name in order:
            result = run_once(name, args, layout, moved, blob, blob_digest, args.workdir)
            runs[name].append(result)
            print(f"rep {rep + 1} {name:16} " + "  ".join(f"{k} {v:.2f}" for k, v in result.items()), flush=True)
    listing = listings(args, args.workdir)

    metrics = list(runs["buse"][0].keys())
    medians = {name: {m: statistics.median(r[m] for r in runs[name]) for m in metrics} for name in contenders}
    rows = []
    for metric in metrics:
        mine, theirs = medians["buse"][metric], medians["docker-registry"][metric]
        rows.append([metric, f"{mine:.2f}", f"{theirs:.2f}", f"{mine / theirs:.2f}"])
    for metric in ("tags p50 ms", "tags p99 ms", "referrers p50 ms", "referrers p99 ms"):
        mine = listing.get(("buse", metric))
        theirs = listing.get(("docker-registry", metric))
        rows.append([
            metric,
            f"{mine:.2f}",
            "—" if theirs is None else f"{theirs:.2f}",
            "—" if theirs is None else f"{mine / theirs:.2f}",
        ])
    table = markdown_table(["metric (median of %d)" % args.reps, "buse", "docker-registry 2.8", "buse / 2.8"], rows)
    bars = [
        ("push wall ≤ 1.0×", medians["buse"]["push-1g s"] / medians["docker-registry"]["push-1g s"] <= 1.0),
        ("pull wall ≤ 1.0×", medians["buse"]["pull-1g s"] / medians["docker-registry"]["pull-1g s"] <= 1.0),
        ("push CPU/GiB ≤ 0.7×",
         medians["buse"]["push CPU s/GiB"] <= 0.7 * medians["docker-registry"]["push CPU s/GiB"]),
        ("pull CPU/GiB ≤ 0.7×",
         medians["buse"]["pull CPU s/GiB"] <= 0.7 * medians["docker-registry"]["pull CPU s/GiB"]),
        ("blob PUT ≥ 1.2×", medians["buse"]["blob-put MB/s"] >= 1.2 * medians["docker-registry"]["blob-put MB/s"]),
        ("blob GET ≥ 1.2×", medians["buse"]["blob-get MB/s"] >= 1.2 * medians["docker-registry"]["blob-get MB/s"]),
        ("8 GETs ≥ 1.2×", medians["buse"]["get-x8 MB/s"] >= 1.2 * medians["docker-registry"]["get-x8 MB/s"]),
        ("tags p50 ≤ 10 ms", listing[("buse", "tags p50 ms")] <= 10),
        ("referrers p50 ≤ 50 ms", listing[("buse", "referrers p50 ms")] <= 50),
        ("RSS ≤ 128 MiB while pushing", medians["buse"]["peak RSS MiB"] <= 128),
    ]
    lines = [table, "", "bars: " + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in bars)]
    print("\n".join(lines))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, f"registry-bench-{stamp}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
