"""What both benchmark modes share: workloads, server processes, fio runs, tables."""

import contextlib
import ctypes
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

EXPORT = "bench"
CLOCK_TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


class Workload:
    def __init__(self, name, rw, bs, iodepth, numjobs=1, fio_options=()):
        self.name, self.rw, self.bs, self.iodepth, self.numjobs = name, rw, bs, iodepth, numjobs
        self.fio_options = tuple(fio_options)  # more fio options, e.g. ("--fsync=1",): a flush after every write

    @property
    def large(self):
        """1M workloads are judged on MB/s, 4K ones on IOPS."""
        return self.bs != "4k"

    @property
    def metric(self):
        return "mbps" if self.large else "iops"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent(sig=signal.SIGTERM):
    """Runs in the child before exec: the kernel sends `sig` to the child if this script dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG


def wait_until_serving(process, address, timeout=15.0):
    """Polls until the server sends the NBD greeting ("NBDMAGIC"), bounded by `timeout`."""
    kind, where = address
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            family = socket.AF_INET if kind == "tcp" else socket.AF_UNIX
            with socket.socket(family) as s:
                s.settimeout(1.0)
                s.connect(("127.0.0.1", where) if kind == "tcp" else where)
                if s.recv(8, socket.MSG_WAITALL) == b"NBDMAGIC":
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


class Server:
    """One server process: started fresh for one run, stopped by pid.

    `command_for(address)` gives the command line serving EXPORT at `address`,
    ("tcp", port) or ("unix", path); `environment` is added to ours.
    """

    def __init__(self, name, command_for, workdir, transport="tcp", environment=None, timeout=15.0):
        self.name = name
        env = dict(os.environ, **(environment or {}))
        for attempt in range(3):  # a free port can be taken between probe and bind
            address = ("tcp", free_port()) if transport == "tcp" else ("unix", os.path.join(workdir, f"{name}.sock"))
            with contextlib.suppress(FileNotFoundError):
                if transport == "unix":
                    os.unlink(address[1])
            self.log_path = os.path.join(workdir, f"{name}.log")
            self.log = open(self.log_path, "ab")
            self.process = subprocess.Popen(command_for(address), stdin=subprocess.DEVNULL, stdout=self.log,
                                            stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent)
            if wait_until_serving(self.process, address, timeout):
                self.address = address
                return
            self.stop()
        raise RuntimeError(f"{name} did not start serving; its log ({self.log_path}) ends:\n{self.log_tail()}")

    @property
    def uri(self):
        kind, where = self.address
        return f"nbd://127.0.0.1:{where}/{EXPORT}" if kind == "tcp" else f"nbd+unix:///{EXPORT}?socket={where}"

    def cpu_us(self):
        """(user, system) CPU time of all the server's threads so far, in µs."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) * CLOCK_TICK_US, int(fields[12]) * CLOCK_TICK_US  # utime, stime (fields 14, 15)

    def status(self, key):
        """A number from /proc/PID/status, e.g. VmHWM (kB) or Threads."""
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return None

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s. Returns the exit status (negative: killed by that signal)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                print(f"  ! {self.name} ignored SIGTERM for 10 s; killing pid {self.process.pid}", file=sys.stderr)
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def log_tail(self, lines=15):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def machine_cpu_us():
    """(busy, total) µs of all CPUs since boot, from /proc/stat: busy is everything but idle and iowait."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    tick = 1_000_000 / os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) * tick, sum(fields) * tick


def run_fio(name, options, runtime, workdir, server=None, environment=None):
    """Runs fio once with `options` (["--rw=read", ...]), sampling the server's thread count meanwhile.

    Returns fio's summed job (group_reporting) from its JSON output and the most threads seen. The job
    also gets "machine": the busy and total CPU µs of the whole machine (every process: client, servers,
    Ceph daemons, kernel work) over the middle of the run, past fio's start-up (connecting, opening an
    RBD image) and before its end, which says whether the steady state was bound by the cores.
    """
    window = (min(1.5, 0.3 * runtime), runtime - 0.5)
    machine = []
    output = os.path.join(workdir, "fio.json")
    command = ["fio", f"--name={name}", *options, "--group_reporting", "--output-format=json", f"--output={output}"]
    errors = os.path.join(workdir, "fio.stderr")
    env = dict(os.environ, **(environment or {}))
    with open(errors, "w") as stderr:
        fio = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                               preexec_fn=lambda: die_with_parent(signal.SIGKILL))  # fio ends its run on SIGTERM
    started = time.monotonic()
    threads, deadline = 0, started + runtime + 60
    try:
        while fio.poll() is None:
            if len(machine) < 2 and time.monotonic() - started >= window[len(machine)]:
                machine.append(machine_cpu_us())
            if time.monotonic() > deadline:
                raise RuntimeError(f"fio still running {runtime + 60} s after it started")
            if server is not None:
                threads = max(threads, server.status("Threads") or 0)
            time.sleep(0.1)
    finally:
        if fio.poll() is None:
            fio.kill()
            fio.wait()
    if fio.returncode != 0:
        with open(errors) as f:
            raise RuntimeError(f"fio exited {fio.returncode}: {f.read().strip()[-2000:]}")
    with open(output) as f:
        text = f.read()
    # Some engines print lines of their own before the JSON.
    job = json.loads(text[text.index("{"):])["jobs"][0]
    if job["error"]:
        raise RuntimeError(f"fio job error {job['error']}")
    if len(machine) == 2 and machine[1][1] > machine[0][1]:
        busy = (machine[1][0] - machine[0][0]) / (machine[1][1] - machine[0][1])
        job["machine"] = {"busy": busy, "cpu_us": busy * os.cpu_count() * runtime * 1e6}
    return job, threads


def run_rotated(workloads, contenders, reps, measure, label_prefix="", label_width=38, extra=lambda r: ""):
    """Runs `measure(name, workload)` for every workload, `reps` times per
    contender, the contenders' order rotated each repetition so none always
    runs first. Returns ({workload: {contender: [result]}}, [error text]); a
    run that fails is reported and left out, the others go on."""
    results = {w.name: {c: [] for c in contenders} for w in workloads}
    errors = []
    for workload in workloads:
        for rep in range(reps):
            order = contenders[rep % len(contenders):] + contenders[:rep % len(contenders)]
            for name in order:
                label = f"{label_prefix}{workload.name} rep {rep + 1}/{reps} {name}"
                try:
                    r = measure(name, workload)
                except (RuntimeError, OSError, KeyError, ValueError) as error:
                    print(f"  {label}: FAILED: {error}", flush=True)
                    errors.append(f"{label}: {error}")
                    continue
                results[workload.name][name].append(r)
                print(f"  {label:{label_width}} {r['iops']:>9.0f} IOPS {r['mbps']:>8.1f} MB/s {r['lat_us']:>8.1f} µs"
                      f"{extra(r)}", flush=True)
    return results, errors


def medians(runs):
    if not runs:
        return None
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def fio_cpu_us_per_io(m):
    """fio's own CPU (its job thread: the client side) per I/O, from a run's metrics or their medians."""
    return m["fio_cpu_pct"] * 1e4 / m["iops"] if m["iops"] else float("nan")


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def markdown_table(header, rows):
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def workload_options(workload, runtime):
    """fio options for `workload`, time based, for any engine."""
    return [
        f"--rw={workload.rw}", f"--bs={workload.bs}", f"--iodepth={workload.iodepth}", f"--numjobs={workload.numjobs}",
        "--time_based", f"--runtime={runtime}", "--norandommap", "--randrepeat=0", *workload.fio_options,
    ]


def measured(workload, job, runtime, cpu=None, rss_mib=None, threads=None):
    """One run's metrics from fio's job and, when there is a server process, its
    (user, system) CPU µs during the run, peak RSS and most threads."""
    direction = job["write"] if "write" in workload.rw else job["read"]
    ios = direction["total_ios"]
    user, system = cpu if cpu else (float("nan"), float("nan"))
    machine = job.get("machine", {"busy": float("nan"), "cpu_us": float("nan")})
    return {
        "iops": direction["iops"],
        "mbps": direction["bw_bytes"] / 1e6,
        "lat_us": direction["clat_ns"]["mean"] / 1000,
        "cpu_us_per_io": (user + system) / ios if ios else float("nan"),
        "user_us_per_io": user / ios if ios else float("nan"),
        "server_cpu_pct": 100 * (user + system) / (runtime * 1e6),
        "peak_rss_mib": rss_mib if rss_mib is not None else float("nan"),
        "threads": threads if threads is not None else float("nan"),
        "ios": ios,
        "fio_cpu_pct": job["usr_cpu"] + job["sys_cpu"],
        # The whole machine: what a run costs when client, servers and kernel share the cores.
        "machine_busy_pct": 100 * machine["busy"],
        # The steady state's rate over the whole run: fio's I/O count covers `runtime` seconds.
        "machine_cpu_us_per_io": machine["cpu_us"] / ios if ios else float("nan"),
    }


def measure_server(server, workload, fio_options, runtime, workdir, environment=None):
    """Runs fio once against a freshly started `server` and stops it; the metrics of both."""
    try:
        user_before, system_before = server.cpu_us()
        job, threads = run_fio(workload.name, fio_options, runtime, workdir, server, environment)
        user_after, system_after = server.cpu_us()
        rss_mib = server.status("VmHWM") / 1024
    finally:
        status = server.stop()
    if status not in (0, -signal.SIGTERM):
        print(f"  ! {server.name} exited with status {status} after SIGTERM", file=sys.stderr)
    cpu = (user_after - user_before, system_after - system_before)
    return measured(workload, job, runtime, cpu, rss_mib, threads)


def force_aes_gcm(workdir):
    """Makes every GnuTLS process started from here on leave ChaCha20 out, so
    buse, nbdkit and the client all negotiate AES-GCM (the TLS benches'
    "same cipher")."""
    configuration = os.path.join(workdir, "gnutls.config")
    with open(configuration, "w") as f:
        f.write("[overrides]\ntls-disabled-cipher = CHACHA20-POLY1305\n")
    os.environ["GNUTLS_SYSTEM_PRIORITY_FILE"] = configuration


def psk_and_tls_client(workdir):
    """A psktool key file for user alice and bench/tlsload.c compiled: (keys, load)."""
    keys = os.path.join(workdir, "keys.psk")
    subprocess.run(["psktool", "-u", "alice", "-p", keys], check=True, stdout=subprocess.DEVNULL)
    load = os.path.join(workdir, "tlsload")
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tlsload.c")
    subprocess.run(["cc", "-O2", "-o", load, source, "-lnbd"], check=True)
    return keys, load


def perf_leaf_samples(data, id_field):
    """(id, "symbol (dso)") for each sample in a `perf record` file, where id
    is the sample's `id_field` ("pid" or "tid") and the symbol its leaf frame;
    lines perf script prints that are not samples are skipped."""
    script = subprocess.run(["perf", "script", "-i", data, "-F", f"{id_field},ip,sym,dso"], capture_output=True,
                            text=True, errors="replace").stdout
    for line in script.splitlines():
        fields = line.split(None, 2)  # id, address, "symbol (dso)"
        if len(fields) < 3:
            continue
        try:
            yield int(fields[0]), fields[2]
        except ValueError:
            continue
