import Foundation
import Synchronization

/// A TCP forwarder on 127.0.0.1 between a primary and its replica, that
/// the test can partition and heal, as a network would:
///
/// - while partitioned, bytes already on their way are held, not delivered
///   (the connections stay open, so each side learns of the partition only
///   through its own timeouts: the primary's `--peer-timeout`), and new
///   connections are refused (accepted and reset at once);
/// - healing delivers what was held and forwards again.
///
/// It can also flip one byte on its way from the primary to the replica
/// (``corruptNextChunk()``), as a man in the middle would.
///
/// One thread accepts; each connection gets a thread per direction, with
/// blocking calls: a handful of connections, for seconds.
final class ReplicationProxy: Sendable {
    /// The port the primary connects to.
    let port: UInt16
    private let targetPort: UInt16
    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var partitioned = false
        var closed = false
        /// Open sockets of forwarded connections, client and target side.
        var sockets: Set<Int32> = []
        var accepted = 0
        var refused = 0
        /// The next chunk forwarded towards the target gets one byte flipped.
        var corruptNext = false
        var corrupted = 0
    }

    /// Listens on a free port and forwards each connection to 127.0.0.1:`targetPort`.
    init(forwardingTo targetPort: UInt16) throws {
        self.targetPort = targetPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw InteropError("socket: \(String(cString: strerror(errno)))") }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && getsockname(listener, pointer, &length) == 0
                    && listen(listener, 16) == 0
            }
        }
        guard listening else {
            Glibc.close(listener)
            throw InteropError("the proxy cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))")
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Holds every byte in transit and refuses new connections until ``heal()``.
    func partition() { state.withLock { $0.partitioned = true } }

    /// Delivers what was held and forwards again.
    func heal() { state.withLock { $0.partitioned = false } }

    /// Flips one byte (in the middle) of the next chunk read from the
    /// primary, before it reaches the replica.
    func corruptNextChunk() { state.withLock { $0.corruptNext = true } }

    /// Chunks corrupted so far.
    var corrupted: Int { state.withLock { $0.corrupted } }

    /// Connections forwarded and refused so far.
    var counts: (accepted: Int, refused: Int) { state.withLock { ($0.accepted, $0.refused) } }

    /// Stops listening and ends every forwarded connection.
    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        // Under the lock: a socket leaves the set before it is closed, so
        // this never shuts down a descriptor number already reused.
        state.withLock { state in
            state.closed = true
            for descriptor in state.sockets { shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
    }

    deinit {
        close()
        Glibc.close(listener)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let (partitioned, closed) = state.withLock { ($0.partitioned, $0.closed) }
            if closed {
                Glibc.close(client)
                return
            }
            if partitioned {
                state.withLock { $0.refused += 1 }
                reset(client)
                continue
            }
            guard let target = connectToTarget() else {
                reset(client)
                continue
            }
            state.withLock { state in
                state.accepted += 1
                state.sockets.formUnion([client, target])
            }
            let remaining = Atomic<Int>(2)
            let finish: @Sendable () -> Void = { [self] in
                // Either direction ending ends the connection; the last
                // thread out closes both sockets (no thread reads them then).
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(target, Int32(SHUT_RDWR))
                guard remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
                state.withLock { $0.sockets.subtract([client, target]) }
                Glibc.close(client)
                Glibc.close(target)
            }
            Thread.detachNewThread { [self] in
                pump(from: client, to: target, corrupting: true)
                finish()
            }
            Thread.detachNewThread { [self] in
                pump(from: target, to: client)
                finish()
            }
        }
    }

    /// Closes with a reset (SO_LINGER 0), as a refused connection looks to its client.
    private func reset(_ descriptor: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        Glibc.close(descriptor)
    }

    private func connectToTarget() -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = Self.loopback(port: targetPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            Glibc.close(descriptor)
            return nil
        }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return descriptor
    }

    /// Copies bytes until either side ends, holding them while partitioned.
    private func pump(from source: Int32, to destination: Int32, corrupting: Bool = false) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            if corrupting {
                let corrupt = state.withLock { state in
                    defer { state.corruptNext = false }
                    if state.corruptNext { state.corrupted += 1 }
                    return state.corruptNext
                }
                if corrupt { buffer[count / 2] ^= 0x5A }
            }
            while true {
                let (partitioned, closed) = state.withLock { ($0.partitioned, $0.closed) }
                if closed { return }
                if !partitioned { break }
                usleep(5_000)
            }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                sent += written
            }
        }
    }
}
