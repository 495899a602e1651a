import Dispatch
import Foundation
import Glibc
import Logging
import Replication
import Sockets
import Synchronization
import Testing

/// The primary's connector waits on a silent replica without holding a
/// thread of Swift's cooperative pool, which every write's completion needs.
///
/// It takes all of the pool but one thread for a moment, so it needs the
/// process to itself: run beside other suites, a CPU-bound one (the
/// replication simulation) can hold that last thread longer than the
/// handshake's timeout. scripts/test.sh runs it in a `swift test` of its
/// own with BUSE_POOL_TESTS=1; a plain `swift test` skips it.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["BUSE_POOL_TESTS"] == "1",
        "needs the cooperative pool to itself: BUSE_POOL_TESTS=1 swift test --filter PeerConnectorTests"))
struct PeerConnectorTests {
    /// A replica whose kernel accepts the TCP connection but which never
    /// answers the TLS handshake keeps the connector waiting up to the
    /// handshake's timeout (10 s). Meanwhile every cooperative thread but
    /// one is taken (as a loaded server's would be), and a task started
    /// then must still run before the connector gives up: it finds the
    /// thread the connector would otherwise have blocked.
    @Test func aReplicaSilentInTheHandshakeHoldsNoCooperativeThread() async throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let key = root + "/peer.psk"
        try "buse:\(String(repeating: "5a", count: 32))\n".write(toFile: key, atomically: true, encoding: .utf8)
        let events = EventLog()
        let silent = try SilentTLSPeer { event in events.record(event) }
        defer { silent.close() }

        let device = try await ReplicatedDevice(
            lower: SimulatedDisk(size: 1 << 20, seed: 1), folder: try NodeFolder(path: root + "/state"),
            logger: Logger(label: "peer-connector-test"))
        let connector = PeerConnector(
            device: device, address: .tcp(host: "127.0.0.1", port: silent.port), peerCredentials: .psk(file: key),
            logger: Logger(label: "peer-connector-test"))
        let connecting = Task { await connector.run() }
        await silent.firstConnection()

        // Every cooperative thread but one blocked, each by a task that
        // says so before it blocks. On Linux the pool has one thread per
        // online CPU (libdispatch counts them as sysconf does; CPU affinity
        // does not narrow it).
        let width = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let blocked = DispatchSemaphore(value: 0)
        let started = EventLog()
        for _ in 0..<max(width - 1, 0) {
            Task.detached {
                started.record("blocking")
                blocked.wait()
            }
        }
        while started.all.count < width - 1 { usleep(1000) }  // not Task.sleep: no thread may be free to resume it
        let probed = DispatchSemaphore(value: 0)
        Task.detached {
            events.record("probe ran")
            probed.signal()
        }
        // Either the probe ran, or the connector gave up the handshake
        // (the peer sees its socket closed after 10 s), whichever is first.
        await silent.closedOr(probed)
        for _ in 0..<max(width - 1, 0) { blocked.signal() }

        let order = events.all
        #expect(order.first == "probe ran", "\(order)")
        silent.close()
        connecting.cancel()
        await connecting.value
        try await device.close()
    }

    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/buse-peer-connector-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return String(cString: made)
    }
}

/// Events from several threads, in the order they happened.
private final class EventLog: Sendable {
    private let events = Mutex<[String]>([])

    func record(_ event: String) { events.withLock { $0.append(event) } }
    var all: [String] { events.withLock { $0 } }
}

/// Accepts one TCP connection on loopback, reads whatever the client sends
/// (its TLS ClientHello) and never answers; reports when the client closes.
private final class SilentTLSPeer: Sendable {
    let port: UInt16
    private let listener: Int32
    private let accepted = DispatchSemaphore(value: 0)
    private let closed = DispatchSemaphore(value: 0)
    private let client = Mutex<Int32>(-1)

    init(record: @escaping @Sendable (String) -> Void) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 8) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        let (accepted, closed) = (accepted, closed)
        Thread.detachNewThread { [self] in
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            self.client.withLock { $0 = client }
            accepted.signal()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while recv(client, &buffer, buffer.count, 0) > 0 {}
            record("the connector closed the connection")
            Glibc.close(client)
            closed.signal()
        }
    }

    /// Returns once the connector's TCP connection has been accepted.
    func firstConnection() async {
        let accepted = accepted
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                accepted.wait()
                continuation.resume()
            }
        }
    }

    /// Returns once the client closed, or `other` was signalled, whichever
    /// is first; the waiting is done by plain threads, so this task gives
    /// its cooperative thread back meanwhile.
    func closedOr(_ other: DispatchSemaphore) async {
        let either = DispatchSemaphore(value: 0)
        let closed = closed
        Thread.detachNewThread {
            closed.wait()
            closed.signal()
            either.signal()
        }
        Thread.detachNewThread {
            other.wait()
            either.signal()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                either.wait()
                continuation.resume()
            }
        }
    }

    /// Stops listening, and ends the connection it holds (so the
    /// connector's handshake fails at once instead of at its timeout).
    func close() {
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        client.withLock { if $0 >= 0 { Glibc.shutdown($0, Int32(SHUT_RDWR)) } }
    }
}
