public import TLS

/// How the two ends of a replication link prove who they are: the same PSK
/// file on both (`--peer-psk`), or certificates signed by the pair's own CA
/// (`--peer-certificates`). Either way the link is TLS 1.3, authenticated
/// before the first frame.
public enum PeerCredentials: Sendable, Equatable {
    case psk(file: String)
    case certificates(directory: String)

    /// The option that gave them, for log lines and refusals.
    public var flag: String {
        switch self {
        case .psk: "--peer-psk"
        case .certificates: "--peer-certificates"
        }
    }

    /// What a failed handshake means: the other node's credentials do not match.
    var mismatch: String {
        switch self {
        case .psk: "it holds another --peer-psk, or none"
        case .certificates: "its certificate is not signed by this node's --peer-certificates CA, or it has none"
        }
    }

    /// Whether the replica confirms, after the handshake, that it accepted
    /// the primary. With certificates the primary's TLS 1.3 handshake ends
    /// before the replica has checked the primary's certificate, so without
    /// this the primary would take a refused link for an authenticated one
    /// that then broke. With a PSK the replica checks the key before the
    /// handshake can end.
    var confirmsAcceptance: Bool {
        if case .certificates = self { return true }
        return false
    }

    /// Reads them, for the primary's side (`client`) or the replica's. The
    /// primary reads them again for each connection, so a rotated key or
    /// certificate takes effect at the next one.
    public func load(client: Bool) throws(TLSSetupError) -> TLSCredentials {
        switch self {
        case let .psk(file): try TLSCredentials.peerPSK(file: file, client: client)
        case let .certificates(directory): try TLSCredentials.peerCertificates(directory: directory, client: client)
        }
    }
}
