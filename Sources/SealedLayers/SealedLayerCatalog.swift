import Glibc

/// The sealed layers under a snapshotter's root (see ``SealedLayer`` for
/// the files). Read by `buse layers list` and by `buse serve
/// --sealed-layers`; written only by ``LayerSealer``.
public struct SealedLayerCatalog: Sendable {
    public let directory: String

    public init(root: String) { directory = SealedLayer.directory(root: root) }

    /// The sealed layer `chainID`, or nil when it is not (completely) sealed.
    public func layer(_ chainID: ChainID) throws(SealedLayerError) -> SealedLayer? {
        let marker = "\(directory)/\(chainID.fileStem).parent"
        guard let text = try Self.readSmallFile(marker) else { return nil }
        let trimmed = text.split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
        let parent: ChainID?
        if trimmed.isEmpty {
            parent = nil
        } else {
            guard let named = ChainID(trimmed) else { throw .refused("\(marker) names no chain ID: \"\(trimmed)\"") }
            parent = named
        }
        let image = "\(directory)/\(chainID.fileStem).erofs"
        var status = stat()
        guard stat(image, &status) == 0 else { throw .system("\(marker) is there but its image is not: stat \(image)", errno: errno) }
        return SealedLayer(chainID: chainID, parent: parent, image: image, size: UInt64(status.st_size))
    }

    /// Every completely sealed layer, by chain ID.
    public func all() throws(SealedLayerError) -> [SealedLayer] {
        guard let handle = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw .system("open \(directory)", errno: errno)
        }
        var chainIDs: [ChainID] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".parent"), let chainID = ChainID(fileStem: name.dropLast(".parent".count)) {
                chainIDs.append(chainID)
            }
        }
        closedir(handle)
        var layers: [SealedLayer] = []
        for chainID in chainIDs.sorted() {
            if let layer = try layer(chainID) { layers.append(layer) }
        }
        return layers
    }

    /// The chain from `top` down to its base layer, top first; every layer must be sealed.
    public func chain(_ top: ChainID) throws(SealedLayerError) -> [SealedLayer] {
        var chain: [SealedLayer] = []
        var next: ChainID? = top
        while let chainID = next {
            guard let layer = try layer(chainID) else {
                throw .refused(
                    "layer \(chainID) is not sealed in \(directory)" + (chain.isEmpty ? "" : " (the parent of \(chain.last!.chainID))"))
            }
            // A loop would be a corrupt catalog; a chain deeper than
            // containerd's own limit of layers is one too.
            guard chain.count < SealedLayerLimits.chainLengthMaximum else {
                throw .refused("the chain of \(top) is longer than \(SealedLayerLimits.chainLengthMaximum) layers")
            }
            chain.append(layer)
            next = layer.parent
        }
        return chain
    }

    static func readSmallFile(_ path: String, limit: Int = 1024) throws(SealedLayerError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw .system("open \(path)", errno: errno)
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw .system("read \(path)", errno: errno) }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}

/// Limits, each with its reason.
public enum SealedLayerLimits {
    /// Layers in one chain. overlayfs stacks at most 500 lower directories,
    /// and the mount options must fit in one page: 128 layers of
    /// `/run/buse/layers/ID/N` fit with room to spare, and images rarely
    /// have more than a few dozen.
    public static let chainLengthMaximum = 128
}
