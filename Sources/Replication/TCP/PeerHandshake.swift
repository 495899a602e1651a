import Glibc
public import Logging
public import Sockets
public import TLS

/// Peer authentication on a replication link (`--peer-psk` or
/// `--peer-certificates`, the `flag` of the log lines): a TLS 1.3 handshake
/// under a PSK or mutual X.509 right after the TCP connection is made, before the first
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
        _ socket: Socket, credentials: TLSCredentials, peer: PeerCredentials, peerName: String, logger: Logger
    ) throws(ReplicationError) -> Socket {
        let secured: Socket
        let session: TLSSession
        do {
            (secured, session) = try credentials.handshake(on: socket, timeout: timeout)
        } catch {
            socket.close()
            throw .refused(
                "\(peerName) is not authenticated: \(peer.mismatch) (\(error)); nothing was sent")
        }
        if peer.confirmsAcceptance {
            // Up to `timeout` for the replica's word that it accepted this node.
            var poller = pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)
            let answered = session.hasPendingData || poll(&poller, 1, Int32(timeout.components.seconds * 1000)) == 1
            let confirmation = answered ? try? secured.readExactly(count: accepted.count) : nil
            guard confirmation == accepted else {
                let why = answered ? "it refused this node's certificate" : "it did not confirm in \(timeout)"
                socket.close()
                throw .refused(
                    "\(peerName) did not accept this node: \(why) (signed by another CA than its \(peer.flag) ca-cert.pem?); nothing was sent"
                )
            }
        }
        logger.info("replication: \(peerName) authenticated by \(peer.flag), \(session.summary)")
        return secured
    }

    /// What the replica sends, first thing over TLS, once it has accepted a
    /// primary whose handshake could end before it did (see
    /// ``PeerCredentials/confirmsAcceptance``).
    static let accepted = Array("BUSE-OK!".utf8)

    /// The replica's side, on an accepted socket: the socket to serve the
    /// primary on, or nil when the peer is not authenticated (logged, and
    /// the socket closed). A peer that sends plain frames is told so in a
    /// plain refusal frame: it holds no key, and the refusal says nothing
    /// about the volume.
    public static func server(
        _ socket: Socket, credentials: TLSCredentials, peer: PeerCredentials, peerName: String, logger: Logger
    ) -> Socket? {
        let flag = peer.flag
        if Self.sendsPlainFrames(socket) {
            let why = "this replica requires TLS with \(flag) and the connecting node has no \(flag)"
            logger.error("replication: refusing \(peerName): \(why)")
            let refusal = Frame.document(.refuse, Array(why.utf8))
            try? socket.writeAll(refusal.header.encoded + refusal.payload.array)
            socket.close()
            return nil
        }
        do {
            let (secured, session) = try credentials.handshake(on: socket, timeout: timeout)
            if peer.confirmsAcceptance { try secured.writeAll(accepted) }
            logger.info("replication: \(peerName) authenticated by \(flag), \(session.summary)")
            return secured
        } catch {
            logger.error("replication: refusing \(peerName): \(peer.mismatch) (\(error))")
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
