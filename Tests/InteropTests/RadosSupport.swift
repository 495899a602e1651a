import Foundation
import Synchronization
import TestSupport
import Testing

/// The Ceph cluster the RADOS interop tests share: the one `make test`
/// starts with scripts/ceph-cluster.sh, found through $CEPH_CONF. Without
/// it the tests fail with the command that starts one; they never skip.
enum SharedCluster {
    static let pool = "buse"

    static func conf() throws -> String {
        guard let conf = ProcessInfo.processInfo.environment["CEPH_CONF"], !conf.isEmpty else {
            throw InteropError(
                "CEPH_CONF is not set, so there is no Ceph cluster for the RADOS tests: run `make test`, or "
                    + "`scripts/ceph-cluster.sh start /tmp/buse-ceph` and export the CEPH_CONF it prints")
        }
        guard FileManager.default.fileExists(atPath: conf) else {
            throw InteropError("CEPH_CONF is \(conf), which does not exist: is the cluster started?")
        }
        return conf
    }

    /// The names of the objects in the pool, by `rados ls`.
    static func objects(conf: String, in directory: TemporaryDirectory) async throws -> [String] {
        let listing = try await runChecked("rados", ["--conf", conf, "-p", pool, "ls"], in: directory)
        return listing.standardOutput.split(separator: "\n").map(String.init)
    }
}

/// A RADOS image made for one test with `buse image create`, under a unique
/// name. ``remove()`` removes it at the end of the test (the memstore OSD
/// keeps about twice what is written, in RAM); if the test fails first,
/// the `cleanup` step registered at creation removes it instead.
final class RadosTestImage: Sendable {
    let conf: String
    let name: String
    let cleanup: Cleanup
    private let removal: Int

    /// `pool/name`, as `buse image` takes it.
    var spec: String { "\(SharedCluster.pool)/\(name)" }

    init(
        size: String, objectSize: String? = nil, conf: String, cleanup: Cleanup, in directory: TemporaryDirectory
    ) async throws {
        self.conf = conf
        self.cleanup = cleanup
        name = "interop-\(UUID().uuidString.prefix(8).lowercased())"
        let spec = "\(SharedCluster.pool)/\(name)"
        var arguments = ["image", "create", spec, "--size", size, "--conf", conf]
        if let objectSize { arguments += ["--object-size", objectSize] }
        try await runChecked(try Tool.buse(), arguments, in: directory)
        removal = cleanup.add([try Tool.buse(), "image", "rm", spec, "--break-lock", "--conf", conf])
    }

    /// The device URI that serves this image, with `options` (`timeout=5`, `break-lock`).
    func uri(_ options: String...) -> String {
        let query = (["conf=\(conf)"] + options).joined(separator: "&")
        return "rados:\(spec)?\(query)"
    }

    /// Runs `buse image SUBCOMMAND spec ARGUMENTS --conf CONF`, whatever its outcome.
    func command(
        _ subcommand: String, _ arguments: [String] = [], in directory: TemporaryDirectory
    ) async throws
        -> RunResult
    {
        try await run(try Tool.buse(), ["image", subcommand, spec] + arguments + ["--conf", conf], in: directory)
    }

    /// Removes the image with `buse image rm`; throws if that fails.
    func remove(in directory: TemporaryDirectory) async throws {
        let result = try await command("rm", in: directory)
        guard result.succeeded else { throw InteropError("buse image rm \(spec) failed:\n\(result)") }
        cleanup.done(removal)
    }
}

/// A one-node Ceph cluster of one test's own (scripts/ceph-cluster.sh in a
/// short directory under /tmp, on its own mon port), for tests that stop
/// its OSD. ``stop()`` must run whatever happens: register it with a
/// ``Cleanup`` through ``stopCommand``.
final class PrivateCluster: Sendable {
    let directory: String
    let port: Int
    var conf: String { directory + "/ceph.conf" }

    static var script: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/ceph-cluster.sh").path
    }

    /// The next mon port pair to try, from 3400 to 3498 (away from the
    /// default 3300): one cursor for the process, starting at random, so
    /// two private clusters of tests running side by side never pick the
    /// same port (once, both passed the script's "port in use" check
    /// before either mon had bound, and the second mon could not bind).
    private static let portCursor = Mutex(Int.random(in: 0..<50))

    static func nextPort() -> Int {
        portCursor.withLock { cursor in
            defer { cursor = (cursor + 1) % 50 }
            return 3400 + 2 * cursor
        }
    }

    /// Starts a fresh cluster with a 1 GiB memstore on the next port of
    /// ``nextPort()``, trying another when the one picked is taken (by
    /// another process: seen by the script, or by the mon as it binds).
    /// `readLeaseSeconds` replaces Ceph's 16 s read
    /// lease (scripts/ceph-cluster.sh, `BUSE_CEPH_READ_LEASE`): a test that
    /// pauses the OSD needs one that outlasts the pause. The cluster's
    /// directory is made in `parent`.
    init(
        in logs: TemporaryDirectory, cleanup: Cleanup, readLeaseSeconds: Int? = nil, parent: String = "/tmp"
    ) async throws {
        var template = Array("\(parent)/buse-pc-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw InteropError("cannot create a cluster directory: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        var environment = ["BUSE_CEPH_MEMSTORE": String(1 << 30)]
        environment["BUSE_CEPH_READ_LEASE"] = readLeaseSeconds.map(String.init)
        var failures: [String] = []
        for _ in 1...3 {
            let port = Self.nextPort()
            // Registered before starting: a start that fails half-way stops what it started itself.
            let stop = cleanup.add(["/bin/sh", Self.script, "stop", directory, "--purge"])
            let started = try await run(
                Self.script, ["start", directory], in: logs, timeout: .seconds(180),
                environment: environment.merging(["BUSE_CEPH_PORT": String(port)]) { $1 })
            if started.succeeded {
                self.port = port
                return
            }
            failures.append(started.description)
            cleanup.done(stop)
            // The script stops what it started; a start in the same
            // directory replaces the stopped cluster.
            let portTaken =
                started.standardError.contains("is in use") || started.standardError.contains("Address already in use")
            guard portTaken else { break }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw InteropError("cannot start a private Ceph cluster:\n\(failures.joined(separator: "\n"))")
    }

    /// The last `lines` lines of the OSD's and the mon's logs, for a failure
    /// message: the directory, logs and all, is removed when the test ends.
    func logTail(lines: Int = 60) -> String {
        ["osd.0.log", "mon.a.log"].map { name in
            let path = directory + "/log/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no \(path))" }
            return "--- \(path), last \(lines) lines:\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// The OSD's own account of the operations it holds (its admin socket's
    /// `dump_ops_in_flight`): each op's events say what it waits for
    /// ("waiting for readable", "waiting for active", ...), which the log at
    /// its default level does not.
    func opsInFlight(in logs: TemporaryDirectory) async -> String {
        let dumped = try? await run(
            "ceph", ["--conf", conf, "daemon", "osd.0", "dump_ops_in_flight"], in: logs, timeout: .seconds(60))
        return "--- the OSD's ops in flight:\n" + (dumped.map { "\($0.standardOutput)\($0.standardError)" } ?? "(ceph did not run)")
    }

    /// Stops the OSD cleanly (it saves its memstore); clients' I/O then waits.
    func stopOSD(in logs: TemporaryDirectory) async throws {
        try await runChecked(Self.script, ["stop-osd", directory], in: logs, timeout: .seconds(120))
    }

    /// Freezes the OSD (SIGSTOP): it is not marked down, so clients' I/O waits.
    func pauseOSD(in logs: TemporaryDirectory) async throws {
        try await runChecked(Self.script, ["pause-osd", directory], in: logs, timeout: .seconds(120))
    }

    /// Lets a paused OSD run again.
    func resumeOSD(in logs: TemporaryDirectory) async throws {
        try await runChecked(Self.script, ["resume-osd", directory], in: logs, timeout: .seconds(120))
    }

    /// Starts the OSD again and waits until I/O works.
    func startOSD(in logs: TemporaryDirectory) async throws {
        try await runChecked(Self.script, ["start-osd", directory], in: logs, timeout: .seconds(180))
    }
}

/// An nbdsh script (with ``Nbdsh/prelude``) running in the background, so a
/// test can act while it runs (kill the server, stop an OSD) and read what
/// it has reported so far.
final class BackgroundNbdsh: Sendable {
    let process: ChildProcess

    init(
        _ script: String, uri: String, variables: [String: String] = [:], in directory: TemporaryDirectory
    ) throws {
        let assignments = variables.sorted { $0.key < $1.key }.map { "\($0.key) = \(Nbdsh.pythonString($0.value))" }
        let arguments = ["-u", uri, "-c", Nbdsh.prelude + "\n" + assignments.joined(separator: "\n"), "-c", script]
        process = try ChildProcess(
            try Tool.path("nbdsh"), arguments, outputPrefix: directory.unique("nbdsh"),
            environment: Tool.systemEnvironment, currentDirectory: directory.path)
    }

    /// What the script has reported so far.
    var report: ScriptReport { ScriptReport(process.standardOutput) }

    /// Waits until the script has reported `name`; throws if it ends first or never does.
    func waitForReport(_ name: String, timeout: Duration) async throws {
        let process = process
        try await waitUntil("the nbdsh script reports \(name)", timeout: timeout) {
            if ScriptReport(process.standardOutput)[name] != nil { return true }
            if let ended = process.termination {
                throw InteropError(
                    "the nbdsh script \(ended) before reporting \(name):\n\(process.standardOutput)\n"
                        + process.standardErrorTail())
            }
            return false
        }
    }

    /// Waits for the script to end and returns its report; throws unless it exited 0.
    func finish(timeout: Duration) async throws -> ScriptReport {
        guard let ended = await process.waitForTermination(timeout: timeout) else {
            process.send(SIGKILL)
            throw InteropError("the nbdsh script was still running after \(timeout):\n\(process.standardOutput)")
        }
        guard ended == .exit(0) else {
            throw InteropError(
                "the nbdsh script \(ended):\n\(process.standardOutput)\n\(process.standardErrorTail())")
        }
        return report
    }
}
