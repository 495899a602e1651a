import Foundation
import Glibc
public import Sockets
import Threading

/// The running node's endpoint for `buse status` and `buse verify`: a Unix
/// socket in the state folder. A client sends one command line; the answer
/// is JSON lines, then the socket closes.
///
///     status          → one ReplicationStatus
///     verify          → {"done":N,"total":M} lines, then {"report":…} or {"error":"…"}
///     verify repair   → the same, copying differing chunks to the peer
public final class ControlServer: Sendable {
    public typealias Status = @Sendable () -> ReplicationStatus
    public typealias Verify =
        @Sendable (_ repair: Bool, _ progress: @escaping @Sendable (UInt64, UInt64) -> Void) async throws(ReplicationError) ->
        ReplicatedDevice.VerifyReport

    private let listener: Listener

    public init(path: String, status: @escaping Status, verify: Verify?) throws(ListenError) {
        unlink(path)  // a socket left by a crashed process; the folder lock says we own it
        listener = try Listener(.unix(path: path))
        let listener = listener
        // Every blocking call (accept, reading the command, writing answers
        // to a client that may not read) runs on a system thread of its own.
        SystemThread.start {
            listener.acceptLoop { socket in
                SystemThread.start { Self.handle(socket, status: status, verify: verify) }
            }
        }
    }

    public func close() { listener.close() }

    private static func handle(_ socket: Socket, status: Status, verify: Verify?) {
        defer { socket.close() }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 256 {
            let count = withUnsafeMutableBytes(of: &byte) { (try? socket.readSome(into: $0)) ?? 0 }
            if count == 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        let command = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        @Sendable func send(_ data: Data?) {
            guard var data else { return }
            data.append(UInt8(ascii: "\n"))
            data.withUnsafeBytes { try? socket.writeAll($0) }
        }
        func reply(_ object: some Encodable) { send(try? JSONEncoder().encode(object)) }
        switch command {
        case "status":
            reply(status())
        case "verify", "verify repair":
            guard let verify else { return reply(["error": "verify runs on the primary"]) }
            Self.run(verify, repair: command == "verify repair", send: send)
        default:
            reply(["error": "unknown command \"\(command)\"; expected status, verify or verify repair"])
        }
    }

    /// Runs a verify as a task and sends its JSON lines (progress, then the
    /// report or the error) from the calling system thread as they come:
    /// the task never writes to the socket itself, so a client that stops
    /// reading stalls only this thread, never the cooperative pool.
    private static func run(_ verify: @escaping Verify, repair: Bool, send: (Data?) -> Void) {
        let lines = ConditionLock((pending: [Data?](), finished: false))
        let post = { @Sendable (line: Data?, last: Bool) in
            lines.withLock { state in
                state.pending.append(line)
                state.finished = state.finished || last
            }
            lines.broadcast()
        }
        Task {
            do throws(ReplicationError) {
                let report = try await verify(repair) { done, total in
                    post(try? JSONEncoder().encode(["done": done, "total": total]), false)
                }
                post(try? JSONEncoder().encode(["report": report]), true)
            } catch {
                post(try? JSONEncoder().encode(["error": error.description]), true)
            }
        }
        while true {
            let (batch, finished) = lines.wait(until: { !$0.pending.isEmpty || $0.finished }) { state in
                defer { state.pending.removeAll() }
                return (state.pending, state.finished)
            }
            for line in batch { send(line) }
            if finished { return }
        }
    }
}
