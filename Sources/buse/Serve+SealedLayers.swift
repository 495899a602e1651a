import SealedLayers

extension Serve {
    /// The exports of `--sealed-layers ROOT`: every sealed layer under the
    /// snapshotter root, read-only, named by its chain ID, its description
    /// naming its parent (how `buse layers attach` walks the chain).
    static func sealedLayerExports(root: String) throws -> [(name: String, uri: String, description: String, readOnly: Bool)] {
        let layers: [SealedLayer]
        do { layers = try SealedLayerCatalog(root: root).all() } catch {
            throw CommandLineError("--sealed-layers \(root): \(error)")
        }
        guard !layers.isEmpty else {
            throw CommandLineError("--sealed-layers \(root): no sealed layers there; seal some with buse layers seal")
        }
        return layers.map { layer in
            (layer.chainID.text, layer.deviceURI, SealedLayerDescription.render(parent: layer.parent), true)
        }
    }
}
