import Glibc
public import Logging
public import Sockets
public import TLS

/// Peer authentication on a replication link (`--peer-psk`): a TLS 1.3 PSK
/// handshake right after the TCP connection is made, before the first
/// frame, so that nothing of the volume (not even its id in the greeting)
/// crosses to a peer that does not hold the key. The primary is the TLS
/// client, the replica the server. A node with a key never falls back to
/// plain frames; a node without one sees a TLS peer's first bytes as a
/// frame with bad magic, which ``FrameHeader`` names as TLS.
///
/// Afterwards the socket reads and writes through the session: the
/// channel's reader thread receives and its ``SocketWriter`` sends, the
/// one-sender-one-receiver use ``TLSSession`` documents; no re-handshake,
/// no `gnutls_bye` (the link ends by closing its socket).
public enum PeerHandshake {
    /// A handshake longer than this is a peer that is not answering: the
    /// link is given up and connected again (the primary) or dropped (the
    /// replica), so a silent connection cannot hold a replica's slot.
    public static let timeout = Duration.seconds(10)

    /// The primary's side, on a freshly connected socket: the socket to
    /// build the channel on, or why the replica was not authenticated
    /// (the socket is then closed).
    public static func client(
        _ socket: Socket, credentials: TLSCredentials, peerName: String, logger: Logger
    ) throws(ReplicationError) -> Socket {
        do {
            let (secured, session) = try credentials.handshake(on: socket, timeout: timeout)
            logger.info("replication: \(peerName) authenticated by --peer-psk, \(session.summary)")
            return secured
        } catch {
            socket.close()
            throw .refused(
                "\(peerName) is not authenticated: it holds another --peer-psk, or none (\(error)); nothing was sent")
        }
    }

    /// The replica's side, on an accepted socket: the socket to serve the
    /// primary on, or nil when the peer is not authenticated (logged, and
    /// the socket closed). A peer that sends plain frames is told so in a
    /// plain refusal frame: it holds no key, and the refusal says nothing
    /// about the volume.
    public static func server(_ socket: Socket, credentials: TLSCredentials, peerName: String, logger: Logger) -> Socket? {
        if Self.sendsPlainFrames(socket) {
            let why = "this replica requires TLS with --peer-psk and the connecting node has no --peer-psk"
            logger.error("replication: refusing \(peerName): \(why)")
            let refusal = Frame.document(.refuse, Array(why.utf8))
            try? socket.writeAll(refusal.header.encoded + refusal.payload.array)
            socket.close()
            return nil
        }
        do {
            let (secured, session) = try credentials.handshake(on: socket, timeout: timeout)
            logger.info("replication: \(peerName) authenticated by --peer-psk, \(session.summary)")
            return secured
        } catch {
            logger.error("replication: refusing \(peerName): it holds another --peer-psk, or none (\(error))")
            socket.close()
            return nil
        }
    }

    /// Whether the peer's first bytes, waited for up to ``timeout``, are a
    /// replication frame's magic ("BRPL") rather than a TLS record. Peeked:
    /// a TLS handshake still reads them.
    static func sendsPlainFrames(_ socket: Socket) -> Bool {
        var poller = pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout.components.seconds * 1000)) == 1 else { return false }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = magic.withUnsafeMutableBytes { recv(socket.descriptor, $0.baseAddress, 4, Int32(MSG_PEEK)) }
        return count == 4 && magic == Array("BRPL".utf8)
    }
}
