/// A repository name that matches the OCI distribution spec v1.1 grammar
///
///     [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
///
/// and is at most 255 bytes long (distribution's limit).
///
/// Because every component starts and ends with `[a-z0-9]`, a valid name has
/// no empty component, no `.` or `..`, and no component starting with `_`, so
/// it can never collide with distribution's `_layers`, `_manifests` or
/// `_uploads` directories. Storage builds paths from these names only.
public struct RepositoryName: Sendable, Hashable, CustomStringConvertible {
    /// distribution's `reference.NameTotalLengthMax`.
    public static let lengthMaximum = 255

    public let value: String
    public var description: String { value }

    /// The `/`-separated components, each valid on its own.
    public var components: [Substring] { value.split(separator: "/", omittingEmptySubsequences: false) }

    public init(validating value: String) throws(RegistryError) {
        guard Self.isValid(value) else {
            throw RegistryError(.nameInvalid, detail: ["name": String(value.prefix(Self.lengthMaximum + 1))])
        }
        self.value = value
    }

    public static func isValid(_ value: some StringProtocol) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= lengthMaximum else { return false }
        return matchesGrammar(bytes)
    }

    /// Where the matcher is inside the grammar; only `alphanumeric` may end a name.
    private enum Position {
        case componentStart, alphanumeric, afterDot, afterUnderscore, afterTwoUnderscores, afterDashes
    }

    /// A hand-written matcher for the grammar above: one pass, no backtracking.
    private static func matchesGrammar(_ bytes: some Sequence<UInt8>) -> Bool {
        var position = Position.componentStart
        for byte in bytes {
            switch (byte, position) {
            case (_, _) where ASCII.isLowerAlphanumeric(byte): position = .alphanumeric
            case (UInt8(ascii: "."), .alphanumeric): position = .afterDot
            case (UInt8(ascii: "_"), .alphanumeric): position = .afterUnderscore
            case (UInt8(ascii: "_"), .afterUnderscore): position = .afterTwoUnderscores
            case (UInt8(ascii: "-"), .alphanumeric), (UInt8(ascii: "-"), .afterDashes): position = .afterDashes
            case (UInt8(ascii: "/"), .alphanumeric): position = .componentStart
            default: return false
            }
        }
        return position == .alphanumeric
    }
}
