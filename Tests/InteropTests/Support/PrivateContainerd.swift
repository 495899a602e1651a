import Foundation
import TestSupport

/// A private containerd 1.6 (its own config, root, state and socket in a
/// temporary directory, CRI disabled) with `buse snapshotter serve` loaded
/// as the proxy snapshotter `buse`. Runs as root. ``stop()`` ends both.
final class PrivateContainerd: Sendable {
    let directory: TemporaryDirectory
    let socket: String
    /// The snapshotter's `--root`.
    let snapshotterRoot: String
    private let snapshotter: ChildProcess
    private let containerd: ChildProcess

    init(in directory: TemporaryDirectory) async throws {
        self.directory = directory
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
        let snapshotter = try ChildProcess(
            try Tool.buse(), ["snapshotter", "serve", "--root", snapshotterRoot, "--socket", directory.file("buse.sock")],
            outputPrefix: directory.file("buse"))
        self.snapshotter = snapshotter
        // containerd dials the snapshotter with backoff, but a ctr call made
        // before the snapshotter listens fails: wait for its socket first.
        let snapshotterSocket = directory.file("buse.sock")
        do {
            try await waitUntil("the snapshotter listens") { FileManager.default.fileExists(atPath: snapshotterSocket) }
        } catch {
            snapshotter.send(SIGKILL)
            throw error
        }
        containerd = try ChildProcess(
            try Tool.path("containerd"), ["--config", directory.file("config.toml")], outputPrefix: directory.file("containerd"))
        let socket = socket
        try await waitUntil("containerd listens") { FileManager.default.fileExists(atPath: socket) }
    }

    /// Runs `ctr` against this containerd; it must succeed.
    @discardableResult
    func ctr(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> RunResult {
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
        snapshotter.send(SIGTERM)
        _ = snapshotter.waitBlocking(seconds: 30)
    }
}
