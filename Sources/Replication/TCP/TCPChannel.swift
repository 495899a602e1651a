import Glibc
public import NBDServer
import Synchronization
import SystemThreads

/// A replication channel over a connected TCP (or Unix) socket. Sends are
/// serialised by a lock and written with one `writev` of header and data;
/// a thread reads frames and hands them on in order.
public final class TCPChannel: ReplicationChannel {
    private let socket: Socket
    public let peerName: String
    private let sendState = Mutex<Bool>(false)  // closed
    private let closeReason = Mutex<ReplicationError?>(nil)

    public init(socket: Socket, peerName: String) {
        self.socket = socket
        self.peerName = peerName
    }

    public func send(_ header: FrameHeader, data: UnsafeRawBufferPointer) throws(ReplicationError) {
        var head = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        try withUnsafeMutableBytes(of: &head) { (headBytes) throws(ReplicationError) in
            header.encode(into: headBytes)
            try sendState.withLock { (closed) throws(ReplicationError) in
                guard !closed else { throw .linkLost("connection to \(peerName) is closed") }
                try Self.writeAll(socket.descriptor, UnsafeRawBufferPointer(rebasing: headBytes[..<FrameHeader.size]), data, peerName)
            }
        }
    }

    private static func writeAll(_ descriptor: Int32, _ head: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer, _ peer: String) throws(ReplicationError) {
        var parts = [head, data].filter { $0.count > 0 }
        while !parts.isEmpty {
            var vectors = parts.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
            let written = writev(descriptor, &vectors, Int32(vectors.count))
            if written < 0 {
                if errno == EINTR { continue }
                throw .linkLost("send to \(peer): \(String(cString: strerror(errno)))")
            }
            var remaining = written
            while remaining > 0, let first = parts.first {
                if remaining >= first.count {
                    remaining -= first.count
                    parts.removeFirst()
                } else {
                    parts[0] = UnsafeRawBufferPointer(rebasing: first[remaining...])
                    remaining = 0
                }
            }
        }
    }

    public func start(onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void) {
        SystemThread.start { [self] in
            let reason = readLoop(onFrame)
            close(reason)
            // Only this thread closes the descriptor, after senders are shut out.
            sendState.withLock { _ in socket.close() }
            onClose(closeReason.withLock { $0 } ?? reason)
        }
    }

    private func readLoop(_ onFrame: (Frame) -> Void) -> ReplicationError {
        var head = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while true {
            do throws(ReplicationError) {
                let header = try withUnsafeMutableBytes(of: &head) { (bytes) throws(ReplicationError) -> FrameHeader in
                    let slice = UnsafeMutableRawBufferPointer(rebasing: bytes[..<FrameHeader.size])
                    do throws(SocketError) { try socket.readExactly(into: slice) } catch { throw Self.lost(error, peerName) }
                    return try FrameHeader(decoding: UnsafeRawBufferPointer(slice))
                }
                let payload = header.payloadLength == 0 ? FramePayload.empty : FramePayload(count: Int(header.payloadLength))
                if header.payloadLength > 0 {
                    do throws(SocketError) { try socket.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: payload.bytes[..<Int(header.payloadLength)])) } catch {
                        throw Self.lost(error, peerName)
                    }
                }
                onFrame(Frame(header, payload: payload))
            } catch {
                if case .malformed = error {
                    // Say why before hanging up, so the other side's log shows it.
                    try? send(Frame.document(.refuse, Array(error.description.utf8)))
                }
                return error
            }
        }
    }

    private static func lost(_ error: SocketError, _ peer: String) -> ReplicationError {
        switch error {
        case .closed: .linkLost("\(peer) closed the connection")
        case .truncated: .linkLost("\(peer) closed the connection in the middle of a frame")
        case let .system(call, code): .linkLost("\(call) from \(peer): \(String(cString: strerror(code)))")
        }
    }

    public func close(_ reason: ReplicationError) {
        closeReason.withLock { if $0 == nil { $0 = reason } }
        sendState.withLock { closed in
            if !closed { socket.shutdown() }
            closed = true
        }
    }
}
