import Glibc

/// The chain of sealed layers a remote `buse serve --sealed-layers`
/// exports, learnt from the exports themselves: each layer's description
/// names its parent (``SealedLayerDescription``), so the client opens the
/// top layer's export, then its parent's, down to the base. Every export
/// stays open, negotiated, ready to hand to the kernel.
public enum RemoteChain {
    /// Opens the exports of `top` and every layer below it, top first.
    public static func open(top: ChainID, host: String, port: UInt16) throws(SealedLayerError) -> [RemoteExport] {
        var exports: [RemoteExport] = []
        var next: ChainID? = top
        do throws(SealedLayerError) {
            while let chainID = next {
                guard exports.count < SealedLayerLimits.chainLengthMaximum else {
                    throw .refused("the chain of \(top) is longer than \(SealedLayerLimits.chainLengthMaximum) layers")
                }
                let export = try RemoteExport.open(host: host, port: port, name: chainID.text)
                exports.append(export)
                guard let parent = SealedLayerDescription.parent(in: export.description) else {
                    throw .server(
                        "export \(chainID) of \(host):\(port) is not a sealed layer (its description is \"\(export.description)\")")
                }
                if let parent, exports.contains(where: { $0.name == parent.text }) {
                    throw .server("the chain of \(top) at \(host):\(port) loops at \(parent)")
                }
                next = parent
            }
        } catch {
            for export in exports { close(export.socket) }
            throw error
        }
        return exports
    }
}
