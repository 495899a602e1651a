import Foundation
import Glibc
public import Sockets

/// The running node's endpoint for `buse status` and `buse verify`: a Unix
/// socket in the state folder. A client sends one command line; the answer
/// is JSON lines, then the socket closes.
///
///     status          → one ReplicationStatus
///     verify          → {"done":N,"total":M} lines, then {"report":…} or {"error":"…"}
///     verify repair   → the same, copying differing chunks to the peer
public final class ControlServer: Sendable {
    public typealias Status = @Sendable () -> ReplicationStatus
    public typealias Verify = @Sendable (_ repair: Bool, _ progress: @escaping @Sendable (UInt64, UInt64) -> Void) async throws(ReplicationError) -> ReplicatedDevice.VerifyReport

    private let listener: Listener

    public init(path: String, status: @escaping Status, verify: Verify?) throws(ListenError) {
        unlink(path)  // a socket left by a crashed process; the folder lock says we own it
        listener = try Listener(.unix(path: path))
        let listener = listener
        Thread.detachNewThread {
            listener.acceptLoop { socket in
                Thread.detachNewThread { Self.handle(socket, status: status, verify: verify) }
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
            let finished = DispatchSemaphore(value: 0)
            Task {
                do throws(ReplicationError) {
                    let report = try await verify(command == "verify repair") { done, total in
                        send(try? JSONEncoder().encode(["done": done, "total": total]))
                    }
                    send(try? JSONEncoder().encode(["report": report]))
                } catch {
                    send(try? JSONEncoder().encode(["error": error.description]))
                }
                finished.signal()
            }
            finished.wait()
        default:
            reply(["error": "unknown command \"\(command)\"; expected status, verify or verify repair"])
        }
    }
}
