import Foundation
import TestSupport
import Testing

/// `buse layers seal`: a committed layer's EROFS image, mounted read-only
/// (loop, as root), is the layer's own directory, markers and all; sealing
/// again changes nothing; keys that name no committed chain ID are refused.
/// The layers come from a real containerd importing ``OracleImageScript``'s
/// image (whiteouts, opaque directories, hard links, setuid bits, large
/// owners, xattrs, long names, an empty layer, a sparse file).
@Suite struct SealedLayerTests {
    @Test(.timeLimit(.minutes(10)))
    func eachSealedLayerMountedReadOnlyIsTheLayersOwnDirectory() async throws {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let chainID = try await makeOracleImage(in: directory)
        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        try await containerd.ctr(["images", "import", "--snapshotter", "buse", directory.file("image.tar")])

        let sealed = try await runChecked(
            try Tool.buse(), ["layers", "seal", chainID, "--root", containerd.snapshotterRoot], in: directory)
        let layers = try Self.sealedLayers(sealed.standardOutput)
        #expect(layers.count == 4, "\(sealed)")
        let allSealedNow = layers.allSatisfy { $0.sealedNow }
        #expect(allSealedNow, "\(sealed)")

        var markers: [String] = []
        for (index, layer) in layers.enumerated() {
            let mountPoint = directory.file("layer-\(index)")
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            try await runChecked("mount", ["-t", "erofs", "-o", "ro,loop", layer.image, mountPoint], in: directory)
            let unmount = cleanup.add([try Tool.path("umount"), mountPoint])
            let compared = try await run(
                "python3", [directory.file("compare.py"), layer.source, mountPoint], in: directory,
                environment: Tool.systemEnvironment)
            #expect(compared.succeeded, "layer \(index) (\(layer.source)): \(compared)")
            let expected = try await runChecked(
                "python3", [directory.file("markers.py"), layer.source], in: directory, environment: Tool.systemEnvironment)
            let actual = try await runChecked(
                "python3", [directory.file("markers.py"), mountPoint], in: directory, environment: Tool.systemEnvironment)
            #expect(actual.standardOutput == expected.standardOutput, "layer \(index)")
            markers += expected.standardOutput.split(separator: "\n").map(String.init)
            try await runChecked("umount", [mountPoint], in: directory)
            cleanup.done(unmount)
        }
        // The image has both kinds of marker: a comparison that found none
        // would prove nothing about them.
        #expect(markers.contains { $0.hasPrefix("whiteout ") }, "\(markers)")
        #expect(markers.contains { $0.contains("trusted.overlay.opaque") }, "\(markers)")

        try await Self.expectServed(layers, root: containerd.snapshotterRoot, in: directory)

        let listing = try await Self.listing(of: containerd.snapshotterRoot + "/sealed", in: directory)
        // What a seal killed halfway leaves (NAME.tmp-PID, PID gone) goes at the next seal.
        let gone = try await runChecked("sh", ["-c", "echo $$"], in: directory).standardOutput
        let leftover = layers[0].image + ".tmp-" + gone.trimmingCharacters(in: .whitespacesAndNewlines)
        try Data("half an image".utf8).write(to: URL(fileURLWithPath: leftover))
        let again = try await runChecked(
            try Tool.buse(), ["layers", "seal", chainID, "--root", containerd.snapshotterRoot], in: directory)
        let noneSealedAgain = try Self.sealedLayers(again.standardOutput).allSatisfy { !$0.sealedNow }
        #expect(noneSealedAgain, "\(again)")
        #expect(try await Self.listing(of: containerd.snapshotterRoot + "/sealed", in: directory) == listing)
        let listed = try await runChecked(try Tool.buse(), ["layers", "list", "--root", containerd.snapshotterRoot], in: directory)
        #expect(listed.standardOutput.split(separator: "\n").count == 5, "\(listed)")
        #expect(listed.standardOutput.contains(chainID), "\(listed)")
    }

    @Test(.timeLimit(.minutes(10)))
    func aKeyThatNamesNoCommittedChainIDIsRefusedAndWritesNothing() async throws {
        let directory = try TemporaryDirectory()
        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        let root = containerd.snapshotterRoot
        try await containerd.snapshots(["prepare", "work-in-progress"])
        try await containerd.snapshots(["prepare", "to-commit"])
        try await containerd.snapshots(["commit", "not-a-chain-id", "to-commit"])
        // A name that would be a path out of the root, were it used as one.
        try await containerd.snapshots(["prepare", "to-commit-2", "not-a-chain-id"])
        try await containerd.snapshots(["commit", "../../../../tmp/escape", "to-commit-2"])
        let refused: [(key: String, reason: String)] = [
            ("../../../etc/passwd", "no snapshot"),
            ("default/1/../../../../tmp/escape", "no snapshot"),
            ("sha256:../../../../tmp/escape", "no snapshot"),
            ("work-in-progress", "not committed"),
            ("not-a-chain-id", "not named by a chain ID"),
            ("../../../../tmp/escape", "not named by a chain ID"),
            ("", "no snapshot"),
        ]
        for (key, reason) in refused {
            let sealed = try await run(try Tool.buse(), ["layers", "seal", key, "--root", root], in: directory)
            #expect(!sealed.succeeded, "\(key): \(sealed)")
            #expect(sealed.standardError.contains(reason), "\(key): \(sealed)")
        }
        // Nothing was made, inside the root or beside it.
        let sealedEntries = (try? FileManager.default.contentsOfDirectory(atPath: root + "/sealed")) ?? []
        #expect(sealedEntries.isEmpty, "\(sealedEntries)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/escape"))
    }

    /// `buse snapshotter serve --seal`: the layers containerd commits are
    /// sealed without anyone asking, and what it seals is what `buse layers
    /// seal` would have made.
    @Test(.timeLimit(.minutes(10)))
    func theSnapshotterSealsEachLayerContainerdCommits() async throws {
        let directory = try TemporaryDirectory()
        let chainID = try await makeOracleImage(in: directory)
        let containerd = try await PrivateContainerd(in: directory, snapshotterArguments: ["--seal"])
        defer { containerd.stop() }
        try await containerd.ctr(["images", "import", "--snapshotter", "buse", directory.file("image.tar")])
        let root = containerd.snapshotterRoot
        // Sealing follows each Commit in the background: wait for the top layer's marker.
        let marker = root + "/sealed/sha256-" + chainID.dropFirst("sha256:".count) + ".parent"
        try await waitUntil("the top layer is sealed", timeout: .seconds(240)) { FileManager.default.fileExists(atPath: marker) }
        let listed = try await runChecked(try Tool.buse(), ["layers", "list", "--root", root], in: directory)
        #expect(listed.standardOutput.split(separator: "\n").count == 5, "\(listed)")
        let again = try await runChecked(try Tool.buse(), ["layers", "seal", chainID, "--root", root], in: directory)
        let noneSealedAgain = try Self.sealedLayers(again.standardOutput).allSatisfy { !$0.sealedNow }
        #expect(noneSealedAgain, "\(again)")
    }

    struct SealedLine {
        var sealedNow: Bool
        var chainID: String
        /// The parent's chain ID, or nil for a base layer.
        var parent: String?
        var source: String
        var image: String
    }

    /// The lines `buse layers seal` prints, one per layer, top first:
    /// `sealed|already sealed CHAIN (...), SIZE, from SOURCE into IMAGE`.
    static func sealedLayers(_ output: String) throws -> [SealedLine] {
        try output.split(separator: "\n").map { line in
            guard let from = line.range(of: " from "), let into = line.range(of: " into ") else {
                throw InteropError("not a line of buse layers seal: \(line)")
            }
            let words = line.split(separator: " ")
            let sealedNow = line.hasPrefix("sealed ")
            let chainID = String(words[sealedNow ? 1 : 2])
            let parentWord = words[sealedNow ? 3 : 4]
            return SealedLine(
                sealedNow: sealedNow, chainID: chainID,
                parent: parentWord.hasPrefix("sha256:") ? String(parentWord.prefix { $0 != ")" }) : nil,
                source: String(line[from.upperBound..<into.lowerBound]), image: String(line[into.upperBound...]))
        }
    }

    /// `buse serve --sealed-layers`: each layer is a read-only export named
    /// by its chain ID, whose description names its parent and whose bytes
    /// are the image's.
    static func expectServed(_ layers: [SealedLine], root: String, in directory: TemporaryDirectory) async throws {
        // A directory of its own: the snapshotter's socket is buse.sock too.
        let server = try await BuseServer(exports: [], options: ["--sealed-layers", root], in: try TemporaryDirectory())
        for layer in layers {
            let info = try await runChecked("nbdinfo", ["--json", server.uri(layer.chainID)], in: directory)
            let json = try JSONSerialization.jsonObject(with: Data(info.standardOutput.utf8)) as? [String: Any]
            let export = try #require((json?["exports"] as? [[String: Any]])?.first, "\(info)")
            #expect(export["description"] as? String == "buse sealed layer, erofs, parent=\(layer.parent ?? "none")", "\(info)")
            #expect(export["is_read_only"] as? Bool == true, "\(info)")
            let copy = directory.unique("copy")
            try await runChecked("nbdcopy", [server.uri(layer.chainID), copy], in: directory)
            #expect(FileManager.default.contentsEqual(atPath: copy, andPath: layer.image), "\(layer.chainID)")
        }
        await server.stopExpectingCleanExit()
    }

    /// Names, inodes, sizes and times of a directory's files.
    static func listing(of path: String, in directory: TemporaryDirectory) async throws -> String {
        try await runChecked("ls", ["-li", "--full-time", path], in: directory).standardOutput
    }

    /// Writes the oracle image's archive (image.tar) and the comparison
    /// scripts into `directory`; returns the image's top chain ID.
    private func makeOracleImage(in directory: TemporaryDirectory) async throws -> String {
        try OracleImageScript.source.write(toFile: directory.file("image.py"), atomically: true, encoding: .utf8)
        try TreeComparisonScript.source.write(toFile: directory.file("compare.py"), atomically: true, encoding: .utf8)
        try OverlayMarkersScript.source.write(toFile: directory.file("markers.py"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory.file("scratch"), withIntermediateDirectories: true)
        let made = try await runChecked(
            "python3", [directory.file("image.py"), directory.file("oci"), directory.file("scratch")], in: directory,
            environment: Tool.systemEnvironment)
        try await runChecked("tar", ["-C", directory.file("oci"), "-cf", directory.file("image.tar"), "."], in: directory)
        return made.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
