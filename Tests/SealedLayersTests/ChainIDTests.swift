import SealedLayers
import Testing

/// Chain IDs name sealed layers' files and exports: only `sha256:` and 64
/// lowercase hex digits pass, however a key dresses them.
@Suite struct ChainIDTests {
    static let hex = String(repeating: "0123456789abcdef", count: 4)

    @Test func aContainerdKeyNamesItsChainID() {
        #expect(ChainID(snapshotKey: "default/12/sha256:\(Self.hex)")?.text == "sha256:\(Self.hex)")
        #expect(ChainID(snapshotKey: "sha256:\(Self.hex)")?.text == "sha256:\(Self.hex)")
    }

    @Test(arguments: [
        "", "sha256:", "sha256:\(String(hex.dropLast()))", "sha256:\(hex)0", "sha256:\(hex.uppercased())",
        "sha512:\(hex)", "../sha256:\(hex)", "default/x/sha256:\(hex)", "default//sha256:\(hex)", "/1/sha256:\(hex)",
        "default/1/sha256:\(hex)/../../etc", "default/1/../../sha256:\(hex)", "default/1/my-layer",
        "sha256:\(String(hex.dropLast(2)))/.",
    ])
    func anythingElseIsRefused(key: String) {
        #expect(ChainID(snapshotKey: key) == nil)
    }

    @Test func theFileStemHasNoSeparator() throws {
        let chainID = try #require(ChainID("sha256:\(Self.hex)"))
        #expect(chainID.fileStem == "sha256-\(Self.hex)")
        #expect(!chainID.fileStem.contains("/") && !chainID.fileStem.contains(":"))
    }

    @Test func aDescriptionNamesTheParentOrNone() throws {
        let parent = try #require(ChainID("sha256:\(Self.hex)"))
        let described = SealedLayerDescription.render(parent: parent)
        #expect(described == "buse sealed layer, erofs, parent=sha256:\(Self.hex)")
        #expect(SealedLayerDescription.parent(in: described) == .some(parent))
        #expect(SealedLayerDescription.parent(in: SealedLayerDescription.render(parent: nil)) == .some(nil))
        #expect(SealedLayerDescription.parent(in: "file:/srv/vol.img") == nil)
        #expect(SealedLayerDescription.parent(in: "buse sealed layer, erofs, parent=../../etc") == nil)
    }
}
