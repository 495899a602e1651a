import Foundation

/// One node of a replicated pair, as an operator sees it: a directory of
/// its own holding the image file, the state folder and the logs. The same
/// node can be run as a primary (`buse serve --replicate-to`), as a replica
/// (`buse replica`), promoted, verified and asked for its status, in any
/// order a test needs, as a failover would.
final class ReplicationNode: Sendable {
    /// The size of every replicated test volume.
    static let volumeSize = 64 << 20

    let name: String
    let directory: TemporaryDirectory

    init(_ name: String) throws {
        self.name = name
        directory = try TemporaryDirectory()
    }

    var imagePath: String { directory.file("disk.img") }
    var statePath: String { directory.file("state") }
    var deviceURI: String { "file:\(imagePath)?size=\(Self.volumeSize >> 20)M" }

    /// Serves the image as export `vol` on a Unix socket, replicating to the
    /// replica at 127.0.0.1:`port`; waits until it listens and catches SIGTERM.
    func serveAsPrimary(replicatingTo port: UInt16, options: [String] = []) async throws -> BuseServer {
        try await BuseServer(
            exports: ["vol=\(deviceURI)"],
            options: ["--replicate-to", "127.0.0.1:\(port)", "--state", statePath] + options, in: directory)
    }

    /// Runs `buse replica` on the image, on 127.0.0.1:`port` (0: any free port).
    func serveAsReplica(port: UInt16 = 0, options: [String] = []) async throws -> ReplicaProcess {
        try await ReplicaProcess(device: deviceURI, state: statePath, port: port, options: options, in: directory)
    }

    /// `buse ARGUMENTS` run to completion in this node's directory.
    func buse(_ arguments: [String], timeout: Duration = .seconds(300)) async throws -> RunResult {
        try await run(try Tool.buse(), arguments, in: directory, timeout: timeout)
    }

    /// `buse status --json` of the process that has this node open.
    func status() async throws -> NodeStatus {
        let result = try await buse(["status", "--state", statePath, "--json"], timeout: .seconds(120))
        guard result.succeeded else { throw InteropError("buse status failed on node \(name):\n\(result)") }
        do {
            return try JSONDecoder().decode(NodeStatus.self, from: Data(result.standardOutput.utf8))
        } catch {
            throw InteropError("buse status --json on node \(name) printed no status document (\(error)):\n\(result)")
        }
    }

    /// Polls the status until `condition` holds, for at most `timeout`;
    /// returns the status that satisfied it.
    @discardableResult
    func waitForStatus(
        _ what: String, timeout: Duration = .seconds(120), _ condition: (NodeStatus) -> Bool
    ) async throws -> NodeStatus {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var last = "no answer yet"
        while true {
            do {
                let status = try await status()
                if condition(status) { return status }
                last = "\(status)"
            } catch {
                last = "\(error)"
            }
            guard clock.now < deadline else {
                throw InteropError("timed out after \(timeout) waiting until node \(name) \(what); last status: \(last)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits until this node reports its peer in sync.
    @discardableResult
    func waitForInSync(timeout: Duration = .seconds(180)) async throws -> NodeStatus {
        try await waitForStatus("is in sync with its peer", timeout: timeout) { $0.peerState == "in-sync" }
    }

    /// The SHA-256 of the image file.
    func imageDigest() async throws -> String { try await DiskImage.sha256(imagePath, in: directory) }
}

/// The JSON document `buse status --json` prints, as far as the tests read it.
struct NodeStatus: Decodable, CustomStringConvertible {
    var role: String
    var volumeID: UInt64
    var generation: UInt64
    var history: [UInt64]
    var consistent: Bool
    var peer: String?
    var peerState: String
    var refusal: String?
    var lagOperations: Int
    var lagBytes: UInt64
    var dirtyBytes: UInt64
    var resyncDone: UInt64
    var resyncTotal: UInt64
    var writesReplicated: UInt64
    var writesDegraded: UInt64

    var description: String {
        "role=\(role) peer=\(peer ?? "none") peerState=\(peerState) volume=\(String(volumeID, radix: 16)) "
            + "generation=\(String(generation, radix: 16)) history=\(history.map { String($0, radix: 16) }) "
            + "consistent=\(consistent) lag=\(lagOperations) (\(lagBytes) B) dirty=\(dirtyBytes) "
            + "resync=\(resyncDone)/\(resyncTotal) replicated=\(writesReplicated) degraded=\(writesDegraded)"
            + (refusal.map { " refusal=\($0)" } ?? "")
    }
}

/// Images compared byte for byte with cmp(1): equal, or where they first differ.
enum ImageComparison {
    static func difference(_ first: String, _ second: String, in directory: TemporaryDirectory) async throws -> String? {
        let result = try await run("cmp", [first, second], in: directory, timeout: .seconds(60))
        return result.succeeded ? nil : result.standardOutput + result.standardError
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago: bound to port 0 and
/// released, for a node that must be named before it starts (a primary's
/// `--replicate-to` pointing at a replica not yet running).
func freeLoopbackPort() throws -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw InteropError("socket: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else { throw InteropError("cannot bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
    return UInt16(bigEndian: address.sin_port)
}
