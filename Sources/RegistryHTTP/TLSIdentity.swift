import HummingbirdTLS

/// The registry's HTTPS identity: PEM files of a certificate chain (the
/// server's certificate first, then any intermediates) and its private key,
/// as `certtool` or `openssl` write them.
public struct TLSIdentity: Sendable, Equatable {
    public var certificateChainPath: String
    public var privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }

    /// Reads both files now, so a missing or unreadable one fails at start
    /// with its path. TLS 1.2 and 1.3 with swift-nio-ssl's defaults.
    func serverConfiguration() throws(TLSIdentityError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChainPath)
        } catch {
            throw .unreadable(path: certificateChainPath, reason: "\(error)")
        }
        guard !chain.isEmpty else { throw .unreadable(path: certificateChainPath, reason: "no certificate in it") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        } catch {
            throw .unreadable(path: privateKeyPath, reason: "\(error)")
        }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}

public enum TLSIdentityError: Error, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): not a usable PEM file (\(reason))"
        }
    }
}
