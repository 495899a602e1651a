/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (OCI distribution spec v1.1).
///
/// The first byte is never `.`, so a tag is never `.` or `..` and is safe as
/// one path component.
public struct Tag: Sendable, Hashable, CustomStringConvertible {
    public static let lengthMaximum = 128

    public let value: String
    public var description: String { value }

    public init(validating value: String) throws(RegistryError) {
        guard Self.isValid(value) else {
            throw RegistryError(.manifestInvalid, message: "invalid tag", detail: ["tag": String(value.prefix(Self.lengthMaximum + 1))])
        }
        self.value = value
    }

    public static func isValid(_ value: some StringProtocol) -> Bool {
        let bytes = value.utf8
        guard let first = bytes.first, bytes.count <= lengthMaximum else { return false }
        guard ASCII.isAlphanumeric(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.dropFirst().allSatisfy { ASCII.isAlphanumeric($0) || "_.-".utf8.contains($0) }
    }
}
