internal import CGnuTLS
import Glibc
public import Sockets

/// What the server proves itself with and checks clients against, loaded
/// once at start-up and shared read-only by every connection (the GnuTLS
/// manual allows credentials to be read from many threads at once).
///
/// Two kinds, in the layouts nbdkit and qemu take:
/// - a certificate directory: `server-cert.pem` and `server-key.pem`, and
///   `ca-cert.pem`, the CA client certificates must be signed by when peers
///   are verified;
/// - a PSK file as `psktool` writes it: one `username:hexkey` line per client.
// Safety: the GnuTLS handles are written only here, before the value is
// shared, and only read afterwards (by `configure`, from many threads,
// which GnuTLS allows for credentials and priority caches).
public final class TLSCredentials: @unchecked Sendable {
    enum Kind {
        case certificates(gnutls_certificate_credentials_t)
        case psk(gnutls_psk_server_credentials_t)
    }

    private let kind: Kind
    private let priority: gnutls_priority_t
    private let verifyPeer: Bool
    /// For the start-up log line: what was loaded from where.
    public let summary: String

    private init(kind: Kind, priority: gnutls_priority_t, verifyPeer: Bool, summary: String) {
        self.kind = kind
        self.priority = priority
        self.verifyPeer = verifyPeer
        self.summary = summary
    }

    deinit {
        gnutls_priority_deinit(priority)
        switch kind {
        case let .certificates(credentials): gnutls_certificate_free_credentials(credentials)
        case let .psk(credentials): gnutls_psk_free_server_credentials(credentials)
        }
    }

    /// Loads `server-cert.pem` and `server-key.pem` from `directory`, and
    /// `ca-cert.pem` (required when `verifyPeer`: clients must then present
    /// a certificate that CA signed).
    public static func certificates(directory: String, verifyPeer: Bool) throws(TLSSetupError) -> TLSCredentials {
        let certificate = directory + "/server-cert.pem"
        let key = directory + "/server-key.pem"
        let authority = directory + "/ca-cert.pem"
        for path in [certificate, key] + (verifyPeer ? [authority] : []) where access(path, R_OK) != 0 {
            throw TLSSetupError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        var made: gnutls_certificate_credentials_t?
        try check(gnutls_certificate_allocate_credentials(&made), "allocating certificate credentials")
        guard let credentials = made else { throw TLSSetupError("gnutls_certificate_allocate_credentials gave nothing") }
        do throws(TLSSetupError) {
            try check(
                gnutls_certificate_set_x509_key_file(credentials, certificate, key, GNUTLS_X509_FMT_PEM),
                "loading \(certificate) with \(key)")
            if access(authority, R_OK) == 0 {
                let count = gnutls_certificate_set_x509_trust_file(credentials, authority, GNUTLS_X509_FMT_PEM)
                try check(count, "loading \(authority)")
                if verifyPeer && count == 0 { throw TLSSetupError("\(authority) holds no certificate") }
            }
            let priority = try priorityCache("NORMAL")
            let mode = verifyPeer ? "client certificates verified against \(authority)" : "client certificates not asked for"
            return TLSCredentials(
                kind: .certificates(credentials), priority: priority, verifyPeer: verifyPeer,
                summary: "X.509 from \(directory), \(mode)")
        } catch {
            gnutls_certificate_free_credentials(credentials)
            throw error
        }
    }

    /// Loads a PSK file of `username:hexkey` lines, checking every line now
    /// (GnuTLS itself reads the file again at each handshake).
    public static func psk(file: String) throws(TLSSetupError) -> TLSCredentials {
        let users = try PSKFile.usernames(in: file)
        var made: gnutls_psk_server_credentials_t?
        try check(gnutls_psk_allocate_server_credentials(&made), "allocating PSK credentials")
        guard let credentials = made else { throw TLSSetupError("gnutls_psk_allocate_server_credentials gave nothing") }
        do throws(TLSSetupError) {
            try check(gnutls_psk_set_server_credentials_file(credentials, file), "loading \(file)")
            // nbdkit's and qemu's PSK priorities: PSK key exchanges are not in NORMAL.
            let priority = try priorityCache("NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK")
            let plural = users.count == 1 ? "" : "s"
            return TLSCredentials(
                kind: .psk(credentials), priority: priority, verifyPeer: false,
                summary: "PSK from \(file) (\(users.count) user\(plural))")
        } catch {
            gnutls_psk_free_server_credentials(credentials)
            throw error
        }
    }

    /// Runs the server's handshake on `socket` (after NBD_OPT_STARTTLS was
    /// acknowledged) and returns the socket that reads and writes through
    /// the session, and the session for its log line.
    public func handshake(on socket: Socket) throws(SocketError) -> (Socket, TLSSession) {
        let session = try TLSSession(descriptor: socket.descriptor, credentials: self)
        try session.handshake()
        return (Socket(descriptor: socket.descriptor, records: session), session)
    }

    /// Gives a new session these credentials and the priorities that go with them.
    func configure(_ session: gnutls_session_t) {
        gnutls_priority_set(session, priority)
        switch kind {
        case let .certificates(credentials):
            gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(credentials))
            if verifyPeer {
                gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE)
                // The handshake itself fails for a certificate the CA did not sign.
                gnutls_session_set_verify_cert(session, nil, 0)
            }
        case let .psk(credentials):
            gnutls_credentials_set(session, GNUTLS_CRD_PSK, UnsafeMutableRawPointer(credentials))
        }
    }

    private static func priorityCache(_ text: String) throws(TLSSetupError) -> gnutls_priority_t {
        var made: gnutls_priority_t?
        try check(gnutls_priority_init(&made, text, nil), "priority string \(text)")
        guard let made else { throw TLSSetupError("gnutls_priority_init gave nothing") }
        return made
    }

    private static func check(_ status: Int32, _ what: String) throws(TLSSetupError) {
        if status < 0 { throw TLSSetupError("\(what): \(message(status))") }
    }

    static func message(_ status: Int32) -> String {
        String(cString: gnutls_strerror(status))
    }
}

/// A TLS configuration that cannot be used, with what to fix.
public struct TLSSetupError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}
