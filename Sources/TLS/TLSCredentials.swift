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
        /// The client's side of a PSK (a replication primary): one identity and its key.
        case pskClient(gnutls_psk_client_credentials_t)
        /// The client's side of X.509 (a replication primary with
        /// `--peer-certificates`): its own certificate, and the CA the
        /// server's must be signed by.
        case certificatesClient(gnutls_certificate_credentials_t)
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
        self.summary = "\(summary); bulk ciphers: \(Self.bulkCiphers)"
    }

    deinit {
        gnutls_priority_deinit(priority)
        switch kind {
        case let .certificates(credentials): gnutls_certificate_free_credentials(credentials)
        case let .psk(credentials): gnutls_psk_free_server_credentials(credentials)
        case let .pskClient(credentials): gnutls_psk_free_client_credentials(credentials)
        case let .certificatesClient(credentials): gnutls_certificate_free_credentials(credentials)
        }
    }

    /// Whether sessions with these credentials are TLS clients (they start the handshake).
    var isClient: Bool {
        switch kind {
        case .pskClient, .certificatesClient: true
        case .certificates, .psk: false
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
        let trust = access(authority, R_OK) == 0 ? authority : nil
        let credentials = try loadCertificate(certificate, key: key, trusting: trust, requiringTrust: verifyPeer)
        do throws(TLSSetupError) {
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

    /// The replication link's key (`--peer-psk`): the first `username:hexkey`
    /// line of `file` (as `psktool -u buse -p FILE` writes it), the same file
    /// on both nodes. The primary is the TLS client (`client`), the replica
    /// the server. Only TLS 1.3 with an ephemeral (EC)DHE exchange under the
    /// PSK: a stolen key later does not decrypt a recorded link.
    public static func peerPSK(file: String, client: Bool) throws(TLSSetupError) -> TLSCredentials {
        let entries = try PSKFile.entries(in: file)
        let priority = try priorityCache("NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK")
        guard client else {
            var made: gnutls_psk_server_credentials_t?
            try check(gnutls_psk_allocate_server_credentials(&made), "allocating PSK credentials")
            guard let credentials = made else { throw TLSSetupError("gnutls_psk_allocate_server_credentials gave nothing") }
            let status = gnutls_psk_set_server_credentials_file(credentials, file)
            guard status >= 0 else {
                gnutls_psk_free_server_credentials(credentials)
                gnutls_priority_deinit(priority)
                throw TLSSetupError("loading \(file): \(message(status))")
            }
            return TLSCredentials(kind: .psk(credentials), priority: priority, verifyPeer: false, summary: "TLS 1.3 PSK from \(file)")
        }
        let (username, key) = entries[0]
        var made: gnutls_psk_client_credentials_t?
        try check(gnutls_psk_allocate_client_credentials(&made), "allocating PSK credentials")
        guard let credentials = made else { throw TLSSetupError("gnutls_psk_allocate_client_credentials gave nothing") }
        var keyBytes = Array(key.utf8)
        let status = keyBytes.withUnsafeMutableBytes { bytes in
            var datum = gnutls_datum_t(data: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), size: UInt32(bytes.count))
            return gnutls_psk_set_client_credentials(credentials, username, &datum, GNUTLS_PSK_KEY_HEX)
        }
        guard status >= 0 else {
            gnutls_psk_free_client_credentials(credentials)
            gnutls_priority_deinit(priority)
            throw TLSSetupError("loading the key of \(username) from \(file): \(message(status))")
        }
        return TLSCredentials(
            kind: .pskClient(credentials), priority: priority, verifyPeer: false, summary: "TLS 1.3 PSK \(username) from \(file)")
    }

    /// The replication link's certificates (`--peer-certificates DIR`):
    /// mutual X.509 under one CA, TLS 1.3 only. DIR holds `ca-cert.pem` (the
    /// CA both nodes' certificates are signed by) and this node's own
    /// certificate and key: `server-cert.pem`/`server-key.pem` for the
    /// replica (the TLS server), `client-cert.pem`/`client-key.pem` for the
    /// primary (the client), the layout qemu uses; a node that may take
    /// either role (after a promotion) holds both. Each side must present a
    /// certificate the CA signed, or the handshake fails.
    public static func peerCertificates(directory: String, client: Bool) throws(TLSSetupError) -> TLSCredentials {
        let role = client ? "client" : "server"
        let certificate = "\(directory)/\(role)-cert.pem"
        let key = "\(directory)/\(role)-key.pem"
        let authority = directory + "/ca-cert.pem"
        for path in [certificate, key, authority] where access(path, R_OK) != 0 {
            throw TLSSetupError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let credentials = try loadCertificate(certificate, key: key, trusting: authority, requiringTrust: true)
        do throws(TLSSetupError) {
            let priority = try priorityCache("NORMAL:-VERS-ALL:+VERS-TLS1.3")
            return TLSCredentials(
                kind: client ? .certificatesClient(credentials) : .certificates(credentials), priority: priority,
                verifyPeer: true, summary: "TLS 1.3 X.509 \(role) certificate from \(directory), peer verified against \(authority)")
        } catch {
            gnutls_certificate_free_credentials(credentials)
            throw error
        }
    }

    /// Runs the handshake on `socket` (the server's after NBD_OPT_STARTTLS
    /// was acknowledged; either side's on a replication link) and returns
    /// the socket that reads and writes through the session, and the
    /// session for its log line. `timeout` bounds the handshake (nil: the
    /// caller's own watchdog does).
    public func handshake(on socket: Socket, timeout: Duration? = nil) throws(SocketError) -> (Socket, TLSSession) {
        let session = try TLSSession(descriptor: socket.descriptor, credentials: self)
        if let timeout {
            gnutls_handshake_set_timeout(session.session, UInt32(timeout.components.seconds * 1000))
        }
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
        case let .pskClient(credentials):
            gnutls_credentials_set(session, GNUTLS_CRD_PSK, UnsafeMutableRawPointer(credentials))
        case let .certificatesClient(credentials):
            gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(credentials))
            // The server's certificate must chain to the CA; no host name is
            // checked (peers are named by address, and the CA is the pair's own).
            gnutls_session_set_verify_cert(session, nil, 0)
        }
    }

    /// New certificate credentials holding `certificate` with its `key`,
    /// and trusting the CA certificates in `authority` when given (with
    /// `requiringTrust`, a file that holds none is refused). The caller
    /// frees them should it fail later.
    private static func loadCertificate(
        _ certificate: String, key: String, trusting authority: String?, requiringTrust: Bool
    ) throws(TLSSetupError) -> gnutls_certificate_credentials_t {
        var made: gnutls_certificate_credentials_t?
        try check(gnutls_certificate_allocate_credentials(&made), "allocating certificate credentials")
        guard let credentials = made else { throw TLSSetupError("gnutls_certificate_allocate_credentials gave nothing") }
        do throws(TLSSetupError) {
            try check(
                gnutls_certificate_set_x509_key_file(credentials, certificate, key, GNUTLS_X509_FMT_PEM),
                "loading \(certificate) with \(key)")
            if let authority {
                let count = gnutls_certificate_set_x509_trust_file(credentials, authority, GNUTLS_X509_FMT_PEM)
                try check(count, "loading \(authority)")
                if requiringTrust && count == 0 { throw TLSSetupError("\(authority) holds no certificate") }
            }
            return credentials
        } catch {
            gnutls_certificate_free_credentials(credentials)
            throw error
        }
    }

    /// On a CPU with AES instructions, ChaCha20-Poly1305 is left out of
    /// every priority string, so sessions use AES-GCM. GnuTLS 3.7 picks
    /// ChaCha20 with `NORMAL` on both ends even on such a CPU (checked with
    /// `gnutls-serv -d 9`: the server tries CHACHA20 first, and neither
    /// reordering nor `%SERVER_PRECEDENCE` changes that; only removing it
    /// does), and there it costs about nine times as much CPU per byte
    /// (`gnutls-cli --benchmark-ciphers`: 0.51 against 4.7 GB/s; 1 MiB NBD
    /// writes over TLS took 3.3 ms of server CPU each, 1.2 ms with AES-GCM).
    /// Every TLS 1.3 client must offer AES-128-GCM (RFC 8446, 9.1), so no
    /// client is refused for it.
    static let bulkCipherPriority = buse_cpu_has_aes() != 0 ? ":-CHACHA20-POLY1305" : ""

    /// The bulk ciphers sessions may use, for start-up log lines.
    public static var bulkCiphers: String {
        bulkCipherPriority.isEmpty ? "GnuTLS's defaults" : "AES-GCM (the CPU has AES instructions)"
    }

    private static func priorityCache(_ base: String) throws(TLSSetupError) -> gnutls_priority_t {
        let text = base + bulkCipherPriority
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
