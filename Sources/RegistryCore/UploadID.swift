/// The id of an upload session: a lowercase UUID `8-4-4-4-12` hex, as
/// distribution names its `_uploads/<id>` directories. Validated, so it is
/// safe as a path component whatever a client puts in the URL.
public struct UploadID: Sendable, Hashable, CustomStringConvertible {
    public let value: String
    public var description: String { value }

    public init(validating value: String) throws(RegistryError) {
        guard Self.isValid(value) else {
            throw RegistryError(.blobUploadUnknown, detail: ["id": String(value.prefix(64))])
        }
        self.value = value
    }

    public static func isValid(_ value: some StringProtocol) -> Bool {
        let bytes = Array(value.utf8)
        let dashes: Set = [8, 13, 18, 23]
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            let valid = dashes.contains(index) ? byte == UInt8(ascii: "-") : ASCII.isLowerHex(byte)
            guard valid else { return false }
        }
        return true
    }
}
