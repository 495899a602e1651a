import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

extension ReplicationPairTests {
    /// A peer that accepts connections and never answers (a wedged or
    /// stopped replica, whose kernel still completes handshakes) does not
    /// hold the primary in "connecting": after `--peer-timeout` the primary
    /// drops the connection, keeps serving, and tries again.
    @Test func aPeerThatNeverAnswersIsGivenUpOnAndRetried() async throws {
        let silent = try SilentListener()
        defer { silent.close() }
        let a = try ReplicationNode("a")
        let primary = try await a.serveAsPrimary(replicatingTo: silent.port, options: ["--peer-timeout", "2"])
        try await waitUntil("the primary connects a second time after giving up on the first", timeout: .seconds(120)) {
            silent.accepted >= 2
        }
        let status = try await a.status()
        #expect(status.role == "primary" && status.peerState != "in-sync", "\(status)")
        try await Self.flush(primary.uri("vol"), in: a.directory)
        await primary.stopExpectingCleanExit()
    }
}

/// Accepts TCP connections on loopback and never reads or writes.
final class SilentListener: Sendable {
    let port: UInt16
    private let descriptor: Int32
    private let count = Counter()

    final class Counter: Sendable {
        let state = Mutex<(accepted: Int, held: [Int32])>((0, []))
    }

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw InteropError("cannot listen on loopback: \(String(cString: strerror(errno)))") }
        port = UInt16(bigEndian: address.sin_port)
        let count = count
        Thread.detachNewThread {
            while true {
                let client = accept(descriptor, nil, nil)
                if client < 0 && errno == EINTR { continue }
                guard client >= 0 else {
                    // Closed here, not in close(): this thread may be between
                    // two accepts, and a number closed under it could be reused.
                    Glibc.close(descriptor)
                    for client in count.state.withLock({ $0.held }) { Glibc.close(client) }
                    return
                }
                count.state.withLock { state in
                    state.accepted += 1
                    state.held.append(client)
                }
            }
        }
    }

    var accepted: Int { count.state.withLock { $0.accepted } }

    /// Stops listening; the accept thread then closes everything.
    func close() { Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }
}
