import Testing

@testable import RegistryCore

@Suite struct DigestTests {
    static let sha256Hex = String(repeating: "ab", count: 32)
    static let sha512Hex = String(repeating: "0f", count: 64)

    @Test func sha256DigestsParse() throws {
        let digest = try Digest(parsing: "sha256:" + Self.sha256Hex)
        #expect(digest.algorithm == .sha256)
        #expect(digest.encoded == Self.sha256Hex)
        #expect(digest.description == "sha256:" + Self.sha256Hex)
    }

    @Test func sha512DigestsParse() throws {
        let digest = try Digest(parsing: "sha512:" + Self.sha512Hex)
        #expect(digest.algorithm == .sha512)
    }

    static let upperHex = sha256Hex.uppercased()
    static let shortHex = String(sha256Hex.dropLast())
    static let gHex = String(repeating: "g", count: 64)
    static let badDigests: [(String, DigestError)] = [
        ("", .malformed("")),
        ("sha256", .malformed("sha256")),
        (":abc", .malformed(":abc")),
        ("sha256:", .malformed("sha256:")),
        ("SHA256:abc", .malformed("SHA256:abc")),
        ("sha256:abc/", .malformed("sha256:abc/")),
        ("sha256:../../x", .malformed("sha256:../../x")),
        ("sha256+-x:abc", .malformed("sha256+-x:abc")),
        ("md5:0123", .unsupportedAlgorithm("md5")),
        ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", .unsupportedAlgorithm("sha256+b64u")),
        ("sha256:\(upperHex)", .invalidEncoding("sha256:\(upperHex)")),
        ("sha256:\(shortHex)", .invalidEncoding("sha256:\(shortHex)")),
        ("sha512:\(sha256Hex)", .invalidEncoding("sha512:\(sha256Hex)")),
        ("sha256:\(gHex)", .invalidEncoding("sha256:\(gHex)")),
    ]

    @Test(arguments: badDigests)
    func badDigestsAreRejectedWithTheirReason(_ text: String, _ expected: DigestError) {
        #expect(throws: expected) { try Digest(parsing: text) }
    }

    @Test func malformedDigestsMapToDigestInvalidAndUnknownAlgorithmsToUnsupported() {
        #expect(DigestError.malformed("x").registryError.code == .digestInvalid)
        #expect(DigestError.invalidEncoding("x").registryError.code == .digestInvalid)
        let unsupported = DigestError.unsupportedAlgorithm("md5").registryError
        #expect(unsupported.code == .unsupported)
        #expect(unsupported.status == 400)
    }

    @Test func hashBytesBecomeLowercaseHex() {
        let digest = Digest(algorithm: .sha256, hashBytes: [UInt8](repeating: 0xAB, count: 32))
        #expect(digest.encoded == Self.sha256Hex)
    }

    @Test func referencesAreTagsUnlessTheyHaveAColon() throws {
        #expect(try Reference(parsing: "latest") == .tag(RegistryCore.Tag(validating: "latest")))
        #expect(try Reference(parsing: "sha256:" + Self.sha256Hex) == .digest(Digest(parsing: "sha256:" + Self.sha256Hex)))
        #expect(throws: RegistryError.self) { try Reference(parsing: "sha256:nothex") }
        #expect(throws: RegistryError.self) { try Reference(parsing: "bad/tag") }
    }
}
