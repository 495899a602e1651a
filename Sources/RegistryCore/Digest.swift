/// A content digest `algorithm:encoded` with a supported algorithm and its
/// exact lowercase hex encoding, so `encoded` is safe as a path component.
public struct Digest: Sendable, Hashable, CustomStringConvertible {
    public let algorithm: DigestAlgorithm
    /// Lowercase hex, exactly `algorithm.encodedLength` characters.
    public let encoded: String

    /// `sha256:…`, exactly as distribution writes it into link files.
    public var description: String { algorithm.rawValue + ":" + encoded }

    public init(parsing text: some StringProtocol) throws(DigestError) {
        let bytes = Array(text.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            Self.isAlgorithmGrammar(bytes[..<colon]), Self.isEncodedGrammar(bytes[(colon + 1)...])
        else { throw .malformed(String(text)) }
        let algorithmName = String(decoding: bytes[..<colon], as: UTF8.self)
        guard let algorithm = DigestAlgorithm(rawValue: algorithmName) else { throw .unsupportedAlgorithm(algorithmName) }
        let encoded = bytes[(colon + 1)...]
        guard encoded.count == algorithm.encodedLength, encoded.allSatisfy(ASCII.isLowerHex) else {
            throw .invalidEncoding(String(text))
        }
        self.algorithm = algorithm
        self.encoded = String(decoding: encoded, as: UTF8.self)
    }

    /// A digest from a hash already computed (storage hands us raw bytes).
    public init(algorithm: DigestAlgorithm, hashBytes: some Sequence<UInt8>) {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for byte in hashBytes {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        precondition(hex.count == algorithm.encodedLength, "a \(algorithm) hash has \(algorithm.encodedLength / 2) bytes")
        self.algorithm = algorithm
        self.encoded = String(decoding: hex, as: UTF8.self)
    }

    /// `[a-z0-9]+([+._-][a-z0-9]+)*`
    private static func isAlgorithmGrammar(_ bytes: ArraySlice<UInt8>) -> Bool {
        var needAlphanumeric = true
        for byte in bytes {
            if ASCII.isLowerAlphanumeric(byte) {
                needAlphanumeric = false
            } else if !needAlphanumeric && "+._-".utf8.contains(byte) {
                needAlphanumeric = true
            } else {
                return false
            }
        }
        return !needAlphanumeric
    }

    /// `[a-zA-Z0-9=_-]+`
    private static func isEncodedGrammar(_ bytes: ArraySlice<UInt8>) -> Bool {
        !bytes.isEmpty
            && bytes.allSatisfy { ASCII.isAlphanumeric($0) || "=_-".utf8.contains($0) }
    }
}
