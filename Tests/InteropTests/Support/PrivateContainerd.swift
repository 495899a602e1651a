import Foundation
import Synchronization
import TestSupport

/// A private containerd 1.6 (its own config, root, state and socket in a
/// temporary directory, CRI disabled) with `buse snapshotter serve` loaded
/// as the proxy snapshotter `buse`. Runs as root. ``stop()`` ends both.
final class PrivateContainerd: Sendable {
    let directory: TemporaryDirectory
    let socket: String
    /// The snapshotter's `--root`.
    let snapshotterRoot: String
    /// The running `buse snapshotter serve`; replaced by `restartSnapshotter()`.
    private let snapshotter: Mutex<ChildProcess>
    private let containerd: ChildProcess
    /// More arguments for `buse snapshotter serve` (such as `--seal`).
    private let snapshotterArguments: [String]

    init(in directory: TemporaryDirectory, snapshotterArguments: [String] = []) async throws {
        self.directory = directory
        self.snapshotterArguments = snapshotterArguments
        socket = directory.file("containerd.sock")
        snapshotterRoot = directory.file("snapshots")
        let config = """
            version = 2
            root = "\(directory.file("containerd-root"))"
            state = "\(directory.file("containerd-state"))"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [proxy_plugins.buse]
              type = "snapshot"
              address = "\(directory.file("buse.sock"))"
            """
        try config.write(toFile: directory.file("config.toml"), atomically: true, encoding: .utf8)
        snapshotter = Mutex(
            try await Self.startSnapshotter(root: snapshotterRoot, in: directory, arguments: snapshotterArguments))
        containerd = try ChildProcess(
            try Tool.path("containerd"), ["--config", directory.file("config.toml")], outputPrefix: directory.file("containerd"))
        let socket = socket
        try await waitUntil("containerd listens") { FileManager.default.fileExists(atPath: socket) }
    }

    /// Runs `ctr` against this containerd; it must succeed.
    @discardableResult
    func ctr(_ arguments: [String], timeout: Duration = .seconds(300)) async throws -> RunResult {
        try await runChecked("ctr", ["-a", socket] + arguments, in: directory, timeout: timeout)
    }

    /// `ctr snapshots --snapshotter buse ARGUMENTS`.
    @discardableResult
    func snapshots(_ arguments: [String]) async throws -> RunResult {
        try await ctr(["snapshots", "--snapshotter", "buse"] + arguments)
    }

    /// A View `key` of `parent`, labelled a garbage collection root. ctr
    /// labels what it prepares and commits as a root but not a view, and
    /// containerd's collector (run when a lease ends, or scheduled after
    /// many changes) removes an unlabelled view: if one does so before the
    /// label lands, the view is made again, a few times at most.
    func view(_ key: String, parent: String) async throws {
        for attempt in 1...5 {
            try await snapshots(["view", key, parent])
            let labelled = try await run(
                "ctr", ["-a", socket, "snapshots", "--snapshotter", "buse", "label", key, "containerd.io/gc.root=test"],
                in: directory)
            if labelled.succeeded { return }
            if attempt == 5 { throw InteropError("view \(key) was collected before it could be labelled:\n\(labelled)") }
        }
    }

    /// Mounts snapshot `key` at `target` with the mount command `ctr` prints.
    func mount(_ key: String, at target: String, cleanup: Cleanup) async throws {
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let command = try await snapshots(["mounts", target, key]).standardOutput
        try await runChecked("sh", ["-c", command], in: directory)
        _ = cleanup.add([try Tool.path("umount"), target])
    }

    func stop() {
        containerd.send(SIGTERM)
        _ = containerd.waitBlocking(seconds: 30)
        let snapshotter = snapshotter.withLock { $0 }
        snapshotter.send(SIGTERM)
        _ = snapshotter.waitBlocking(seconds: 30)
    }

    /// `kill -9` of the snapshotter, then a new one on the same root and
    /// socket (containerd reconnects to it by itself).
    func restartSnapshotterAfterKillNine() async throws {
        let killed = snapshotter.withLock { $0 }
        killed.send(SIGKILL)
        _ = await killed.waitForTermination(timeout: .seconds(120))
        let started = try await Self.startSnapshotter(
            root: snapshotterRoot, in: directory, arguments: snapshotterArguments, log: "buse-after-kill")
        snapshotter.withLock { $0 = started }
    }

    /// Waits until containerd reaches the snapshotter again: after a
    /// restart, its gRPC connection retries with backoff. The probe is a
    /// Prepare (List and Stat are answered from containerd's own database),
    /// removed again at once.
    func waitUntilTheSnapshotterAnswers(timeout: Duration = .seconds(120)) async throws {
        let deadline = ContinuousClock.now + timeout
        let probe = "probe-\(UInt32.random(in: 0 ... .max))"
        while true {
            let listing = try await run("ctr", ["-a", socket, "snapshots", "--snapshotter", "buse", "prepare", probe], in: directory)
            if listing.succeeded {
                try await snapshots(["rm", probe])
                return
            }
            guard ContinuousClock.now < deadline else {
                throw InteropError("containerd did not reach the snapshotter in \(timeout):\n\(listing)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Starts `buse snapshotter serve` and waits until it listens: containerd
    /// dials it with backoff, but a ctr call made before it listens fails.
    private static func startSnapshotter(
        root: String, in directory: TemporaryDirectory, arguments: [String] = [], log: String = "buse"
    ) async throws -> ChildProcess {
        let socket = directory.file("buse.sock")
        // A killed snapshotter leaves its socket file: only a new one counts.
        try? FileManager.default.removeItem(atPath: socket)
        let process = try ChildProcess(
            try Tool.buse(), ["snapshotter", "serve", "--root", root, "--socket", socket] + arguments,
            outputPrefix: directory.file(log))
        do {
            try await waitUntil("the snapshotter listens") { FileManager.default.fileExists(atPath: socket) }
        } catch {
            process.send(SIGKILL)
            throw error
        }
        return process
    }
}
