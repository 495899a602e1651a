import Glibc

/// Whole reads and writes on a blocking socket during an NBD handshake,
/// big-endian numbers as the protocol sends them.
struct HandshakeChannel {
    let socket: Int32
    /// host:port, for messages.
    let peer: String

    func setReceiveTimeout(seconds: Int) throws(SealedLayerError) {
        var time = timeval(tv_sec: seconds, tv_usec: 0)
        guard setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw .system("setsockopt SO_RCVTIMEO", errno: errno)
        }
    }

    func write(_ bytes: [UInt8]) throws(SealedLayerError) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(socket, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .system("send to \(peer)", errno: errno) }
            sent += count
        }
    }

    func read(_ length: Int) throws(SealedLayerError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        var received = 0
        while received < length {
            let count = bytes.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + received, length - received, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw .server("\(peer) did not answer the NBD handshake in \(RemoteExport.handshakeTimeoutSeconds) s")
            }
            guard count != 0 else { throw .server("\(peer) closed the connection during the NBD handshake") }
            guard count > 0 else { throw .system("receive from \(peer)", errno: errno) }
            received += count
        }
        return bytes
    }

    func readUInt16() throws(SealedLayerError) -> UInt16 { try read(2).reduce(0) { $0 << 8 | UInt16($1) } }
    func readUInt32() throws(SealedLayerError) -> UInt32 { try read(4).reduce(0) { $0 << 8 | UInt32($1) } }
    func readUInt64() throws(SealedLayerError) -> UInt64 { try read(8).reduce(0) { $0 << 8 | UInt64($1) } }
}
