/// A sealed layer: a committed layer's read-only EROFS image and the chain
/// ID of the layer below it, which a second host needs to stack the chain.
///
/// On disk, under the snapshotter's root, in `sealed/`:
/// - `sha256-HEX.erofs`: the image, an ordinary buse device
///   (`file:ROOT/sealed/sha256-HEX.erofs`), padded to a multiple of 4096 bytes;
/// - `sha256-HEX.parent`: the parent's chain ID, or nothing for a base
///   layer. Written (and made durable) after the image, so its presence
///   means the seal is complete.
public struct SealedLayer: Sendable, Hashable {
    public var chainID: ChainID
    public var parent: ChainID?
    /// The image's path.
    public var image: String
    /// The image's size in bytes.
    public var size: UInt64

    public init(chainID: ChainID, parent: ChainID?, image: String, size: UInt64) {
        self.chainID = chainID
        self.parent = parent
        self.image = image
        self.size = size
    }

    /// The device URI `buse serve` opens it with.
    public var deviceURI: String { "file:\(image)?readonly" }

    /// The directory of sealed layers under a snapshotter's root.
    public static func directory(root: String) -> String { root + "/sealed" }
}
