public import NBDProtocol
public import TLS

/// A server's TLS: whether it is offered or required, and the credentials
/// every connection's handshake uses.
public struct TLSSettings: Sendable {
    public let policy: TLSPolicy
    public let credentials: TLSCredentials?

    /// No TLS: STARTTLS is refused.
    public static let off = TLSSettings(policy: .off, credentials: nil)

    /// TLS offered (`.on`) or required (`.require`) with `credentials`.
    public init(policy: TLSPolicy, credentials: TLSCredentials) {
        self.policy = policy
        self.credentials = policy == .off ? nil : credentials
    }

    private init(policy: TLSPolicy, credentials: TLSCredentials?) {
        self.policy = policy
        self.credentials = credentials
    }
}
