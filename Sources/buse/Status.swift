import ArgumentParser
import Foundation
import Glibc
import Replication
import ServiceMetrics
import Sockets

/// Asks a running node over its control socket; the answer is JSON lines.
enum ControlClient {
    static func ask(_ state: String, _ command: String, line: (Data) throws -> Void) throws {
        let path = state + "/control.sock"
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CommandLineError("socket: \(String(cString: strerror(errno)))") }
        let socket = Socket(descriptor: descriptor)
        defer { socket.close() }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw CommandLineError("\(path) is too long for a socket path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw CommandLineError("no buse is running with state \(state) (\(path): \(String(cString: strerror(errno))))")
        }
        try socket.writeAll(Array((command + "\n").utf8))
        var pending = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try socket.readSome(into: $0) }
            if count == 0 { break }
            pending.append(contentsOf: chunk[..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                try line(pending[pending.startIndex..<newline])
                pending = Data(pending[(newline + 1)...])
            }
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a replicated volume's role, peer, lag, resync progress and generations.",
        discussion: """
            Asks the buse process (serve, connect or replica) that has the state folder open.
            --prometheus prints the same figures in the Prometheus text format, for a \
            node-exporter textfile collector or a scrape wrapper.

            What the primary's figures mean. While the peer is in sync it has every \
            acknowledged write, but only a FLUSH makes writes durable on it (as on a local \
            disk): "unflushed" counts the log's records of writes since the last FLUSH, and \
            "dirty" the bytes (those records and the 1 MiB regions older records were folded \
            into) that would be copied again if the peer restarted before the next FLUSH. \
            Both drop to 0 at a FLUSH; a client that never flushes keeps them growing, \
            which is the figure to alert on. While the peer is away or resyncing, "lag" \
            counts the writes it may lack and "dirty" the bytes the next resync copies.
            """)

    @Option(help: ArgumentHelp("The node's state folder.", valueName: "dir"))
    var state: String

    @Flag(help: "Print the JSON document.")
    var json = false

    @Flag(help: "Print Prometheus metrics.")
    var prometheus = false

    @Flag(
        help:
            "Follow the node until interrupted: a line whenever its peer's state changes, and a running resync's progress (percent, rate, time left; live on a terminal, every tenth otherwise)."
    )
    var watch = false

    @Flag(help: "With --watch: exit 0 once the peer is in sync (a script waiting for a resync).")
    var untilInSync = false

    @Option(help: ArgumentHelp("With --watch: seconds between looks.", valueName: "seconds"))
    var interval: Double = 1

    func validate() throws {
        if untilInSync && !watch { throw ValidationError("--until-in-sync goes with --watch") }
        if watch && (json || prometheus) { throw ValidationError("--watch prints lines: drop --json/--prometheus") }
        guard interval >= 0.05 && interval <= 3600 else { throw ValidationError("--interval must be from 0.05 to 3600 seconds") }
    }

    func run() throws {
        if watch { return try follow() }
        let (answer, status) = try Self.ask(state)
        if json {
            print(String(decoding: answer, as: UTF8.self))
        } else if prometheus {
            print(Self.metrics(status), terminator: "")
        } else {
            print(Self.text(status))
        }
    }

    static func ask(_ state: String) throws -> (Data, ReplicationStatus) {
        var answer: Data?
        try ControlClient.ask(state, "status") { answer = $0 }
        guard let answer, let status = try? JSONDecoder().decode(ReplicationStatus.self, from: answer) else {
            throw CommandLineError("the node answered no status")
        }
        return (answer, status)
    }

    /// `--watch`: polls the node, printing its peer's state when it changes
    /// (standard output) and a running resync's progress (standard error).
    private func follow() throws {
        var shown: String?
        var progress: ProgressLine?
        while true {
            let status = try Self.ask(state).1
            if status.resyncTotal > 0 {
                if progress == nil { progress = ProgressLine("resync", unit: .bytes, startingAt: status.resyncDone) }
                progress?.update(done: status.resyncDone, total: status.resyncTotal)
            } else if let running = progress {
                running.finish()
                progress = nil
            }
            let line = Self.summary(status)
            if line != shown {
                progress?.finish()
                print("\(ISO8601DateFormatter().string(from: Date())) \(line)")
                fflush(nil)  // a pipe (a script waiting on --watch) sees each line at once
                shown = line
            }
            if untilInSync && status.peerState == .inSync { return }
            usleep(useconds_t(interval * 1_000_000))
        }
    }

    /// One line of what changes: role, peer and its state, and why it was refused.
    static func summary(_ status: ReplicationStatus) -> String {
        var line = "\(status.role.rawValue), peer \(status.peer ?? "none") \(status.peerState.rawValue)"
        if let refusal = status.refusal { line += ": \(refusal)" }
        return line
    }

    static func hex(_ value: UInt64) -> String { String(value, radix: 16) }

    static func text(_ status: ReplicationStatus) -> String {
        var lines = [
            "role:        \(status.role.rawValue)\(status.consistent ? "" : " (inconsistent: resync not finished)")",
            "volume:      \(hex(status.volumeID))",
            "generation:  \(hex(status.generation)) (history: \(status.history.prefix(4).map(hex).joined(separator: " ")))",
            "peer:        \(status.peer ?? "none") \(status.peerState.rawValue)",
        ]
        if let refusal = status.refusal { lines.append("refused:     \(refusal)") }
        if let policy = status.policy { lines.append("while away:  \(policy.rawValue)") }
        if status.role == .primary {
            if status.peerState == .inSync {
                // In sync, the peer has every write; what the log still holds
                // is what it has not yet been asked to make durable.
                lines.append(
                    "unflushed:   \(status.lagOperations) write(s), \(status.lagBytes) bytes on the peer awaiting the next FLUSH")
                lines.append("dirty:       \(status.dirtyBytes) bytes to copy again should the peer restart before that FLUSH")
            } else {
                lines.append("lag:         \(status.lagOperations) write(s), \(status.lagBytes) bytes the peer may lack")
                lines.append("dirty:       \(status.dirtyBytes) bytes the next resync copies")
            }
        }
        if let percent = status.resyncPercent {
            let width = 30
            let filled = Int(percent / 100 * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            lines.append("resync:      [\(bar)] \(String(format: "%.1f", percent))% (\(status.resyncDone) of \(status.resyncTotal) bytes)")
        }
        lines.append("writes:      \(status.writesReplicated) replicated, \(status.writesDegraded) without the peer")
        if let sent = status.peerFlushesSent, let answered = status.peerFlushesAnswered {
            lines.append("flushes:     \(sent) sent to the peer, \(answered) answered")
        }
        return lines.joined(separator: "\n")
    }

    /// The same families, names and figures as a `--metrics` scrape of the node.
    static func metrics(_ status: ReplicationStatus) -> String {
        ReplicationMetrics.exposition(status)
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the whole volume with the peer, online, and report differing regions.",
        discussion: """
            Runs on the primary while clients keep writing: each 1 MiB chunk is read on \
            both sides under a lock against writes to it and their CRC-32C compared. \
            With --repair, differing chunks are copied to the peer. Exits 1 when \
            differences were found and not repaired.
            """)

    @Option(help: ArgumentHelp("The primary's state folder.", valueName: "dir"))
    var state: String

    @Flag(help: "Copy differing chunks from the primary to the peer.")
    var repair = false

    func run() throws {
        var report: ReplicatedDevice.VerifyReport?
        var failure: String?
        let progress = ProgressLine("verify", unit: .bytes)
        try ControlClient.ask(state, repair ? "verify repair" : "verify") { line in
            if let counts = try? JSONDecoder().decode([String: UInt64].self, from: line), let done = counts["done"],
                let total = counts["total"]
            {
                progress.update(done: done, total: total)
            } else if let wrapped = try? JSONDecoder().decode([String: ReplicatedDevice.VerifyReport].self, from: line) {
                report = wrapped["report"]
            } else if let error = try? JSONDecoder().decode([String: String].self, from: line) {
                failure = error["error"]
            }
        }
        progress.finish()
        if let failure { throw CommandLineError("verify: \(failure)") }
        guard let report else { throw CommandLineError("verify: the node gave no report") }
        print(
            "verified \(report.checkedBytes) bytes: \(report.mismatches.count) differing chunk(s)\(report.mismatches.isEmpty ? "" : (repair ? ", repaired" : ""))"
        )
        for range in report.mismatches { print("  differs: \(range[0])..<\(range[1])") }
        if !report.mismatches.isEmpty && !repair { throw ExitCode(1) }
    }
}
