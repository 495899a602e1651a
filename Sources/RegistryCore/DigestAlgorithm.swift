/// The digest algorithms this registry accepts, with their encoded lengths
/// (lowercase hex, as the OCI image spec requires for both).
public enum DigestAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha256
    case sha512

    /// The number of hex characters after `algorithm:`.
    public var encodedLength: Int {
        switch self {
        case .sha256: 64
        case .sha512: 128
        }
    }
}
