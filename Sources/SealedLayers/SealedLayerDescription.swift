/// What a sealed layer's NBD export says about itself in its description
/// (NBD_INFO_DESCRIPTION, which `nbdinfo` shows and NBD_OPT_GO returns):
/// the format and the parent's chain ID. A client attaching a chain asks
/// for the top layer's export, reads its parent here, and walks down until
/// a base layer, so the chain needs no manifest of its own.
///
///     buse sealed layer, erofs, parent=sha256:HEX
///     buse sealed layer, erofs, parent=none
public enum SealedLayerDescription {
    static let prefix = "buse sealed layer, erofs, parent="

    public static func render(parent: ChainID?) -> String { prefix + (parent?.text ?? "none") }

    /// The parent named by a description: `.some(nil)` for a base layer,
    /// nil when the text is not a sealed layer's description.
    public static func parent(in text: String) -> ChainID?? {
        guard text.hasPrefix(prefix) else { return nil }
        let rest = text.dropFirst(prefix.count)
        if rest == "none" { return .some(nil) }
        guard let parent = ChainID(rest) else { return nil }
        return .some(parent)
    }
}
