/// What a manifest URL names: a tag or a digest.
public enum Reference: Sendable, Hashable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    /// A reference with `:` is a digest (tags cannot contain `:`); anything else
    /// must be a valid tag.
    public init(parsing text: String) throws(RegistryError) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            do throws(DigestError) {
                self = .digest(try Digest(parsing: text))
            } catch {
                throw error.registryError
            }
        } else {
            self = .tag(try Tag(validating: text))
        }
    }

    public var description: String {
        switch self {
        case .tag(let tag): tag.value
        case .digest(let digest): digest.description
        }
    }
}
