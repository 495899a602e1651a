/// A layer's chain ID as containerd names a committed layer snapshot
/// (`sha256:` and 64 hex digits): the name of a sealed layer's export and,
/// spelled `sha256-HEX`, of its files. Only this shape is accepted, so no
/// name taken from a key or from the network can reach a path outside the
/// sealed layers' directory.
public struct ChainID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `sha256:HEX`.
    public let text: String

    /// Parses `sha256:` followed by 64 lowercase hex digits; nil otherwise.
    public init?(_ text: some StringProtocol) {
        let prefix = "sha256:"
        guard text.hasPrefix(prefix) else { return nil }
        let digits = text.utf8.dropFirst(prefix.utf8.count)
        guard digits.count == 64, digits.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            return nil
        }
        self.text = String(text)
    }

    /// Parses a file stem, `sha256-HEX`.
    init?(fileStem: some StringProtocol) {
        guard fileStem.hasPrefix("sha256-") else { return nil }
        self.init("sha256:" + fileStem.dropFirst("sha256-".count))
    }

    /// The chain ID a snapshot key names: containerd sends a committed
    /// layer's key as `NAMESPACE/N/CHAIN-ID`; a bare chain ID is accepted too.
    public init?(snapshotKey key: String) {
        if let bare = ChainID(key) {
            self = bare
            return
        }
        let parts = key.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber),
            let named = ChainID(parts[2])
        else { return nil }
        self = named
    }

    /// `sha256-HEX`: a name with no `/` and no `:` (device URIs split on the first colon only, but a
    /// plain name reads better in `ls`).
    public var fileStem: String { "sha256-" + text.dropFirst("sha256:".count) }

    public var description: String { text }

    public static func < (left: ChainID, right: ChainID) -> Bool { left.text < right.text }
}
