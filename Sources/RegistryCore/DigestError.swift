/// Why a string is not a digest this registry can use.
public enum DigestError: Error, Sendable, Equatable {
    /// Not `algorithm:encoded` per the OCI grammar at all.
    case malformed(String)
    /// Well formed, but an algorithm this registry does not implement.
    case unsupportedAlgorithm(String)
    /// A known algorithm whose encoded part is not its lowercase hex length.
    case invalidEncoding(String)

    /// Malformed input is `DIGEST_INVALID`; a valid digest we cannot compute is
    /// `UNSUPPORTED`, answered 400 because the request, not the method, is at fault.
    public var registryError: RegistryError {
        switch self {
        case .malformed(let text), .invalidEncoding(let text):
            RegistryError(.digestInvalid, message: "invalid digest", detail: ["digest": String(text.prefix(200))])
        case .unsupportedAlgorithm(let algorithm):
            RegistryError(
                .unsupported, message: "unsupported digest algorithm", detail: ["algorithm": String(algorithm.prefix(64))],
                status: 400)
        }
    }
}
