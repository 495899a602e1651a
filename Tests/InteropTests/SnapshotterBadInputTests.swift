import Foundation
import TestSupport
import Testing

/// What a hostile image or a full volume may do to the layer store through
/// containerd: nothing outside the snapshotter's root, and nothing that
/// leaves the store unusable. Layers are applied by containerd into the
/// mounts buse gives it, so buse must give mounts that keep a layer inside
/// its own directory, answer a full disk with ENOSPC, and clean up after
/// a failed apply like containerd's own overlayfs snapshotter.
@Suite struct SnapshotterBadInputTests {
    /// A layer whose members name `..` paths, absolute paths, paths through
    /// absolute and relative symbolic links out of the root, device nodes
    /// and a hard link to a file outside: nothing lands outside, the
    /// outside file keeps its one link and content, buse and containerd's
    /// overlayfs end alike, and `buse layers diff` of a snapshot holding a
    /// symbolic link to `/` writes the link, not what it points to.
    @Test(.timeLimit(.minutes(10)))
    func aLayerThatTriesToLeaveItsRootWritesNothingOutside() async throws {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let outside = directory.file("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let victim = directory.file("victim")
        try "the victim\n".write(toFile: victim, atomically: true, encoding: .utf8)
        let chainID = try await Self.image(
            directory, mode: ["hostile", outside, victim], archive: "hostile.tar")

        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        var outcomes: [String: RunResult] = [:]
        for snapshotter in ["buse", "overlayfs"] {
            outcomes[snapshotter] = try await run(
                "ctr", ["-a", containerd.socket, "images", "import", "--snapshotter", snapshotter, directory.file("hostile.tar")],
                in: directory, timeout: .seconds(120))
        }
        let escaped = try FileManager.default.contentsOfDirectory(atPath: outside)
        #expect(escaped.isEmpty, "files written outside the layer's root: \(escaped)\n\(outcomes)")
        let attributes = try FileManager.default.attributesOfItem(atPath: victim)
        #expect((attributes[.referenceCount] as? Int) == 1, "the outside file gained a hard link: \(attributes)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "the victim\n")
        let buse = try #require(outcomes["buse"]), overlayfs = try #require(outcomes["overlayfs"])
        print("the hostile layer on buse: \(buse.succeeded ? "applied" : "refused: \(buse.standardError)")")
        #expect(buse.succeeded == overlayfs.succeeded, "buse and containerd's overlayfs differ:\n\(buse)\n\(overlayfs)")
        let listed = try await containerd.snapshots(["ls"]).standardOutput
        #expect(!listed.contains("Active"), "a failed apply left an active snapshot: \(listed)")

        // A snapshot whose upper directory holds links out of the root: the
        // diff writes the links themselves.
        let parent = buse.succeeded ? [chainID] : []
        try await containerd.snapshots(["prepare", "hostile-work"] + parent)
        let mounted = directory.file("work")
        try await containerd.mount("hostile-work", at: mounted, cleanup: cleanup)
        try FileManager.default.createSymbolicLink(atPath: mounted + "/root-link", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: mounted + "/outside-link", withDestinationPath: outside)
        let layer = directory.file("diff.tar")
        let diff = try await run(
            try Tool.buse(), ["layers", "diff", "hostile-work", "--root", containerd.snapshotterRoot, "--output", layer],
            in: directory)
        #expect(diff.succeeded, "\(diff)")
        let listing = try await runChecked("tar", ["-tvf", layer], in: directory).standardOutput
        let names = listing.split(separator: "\n").map { String($0.split(separator: " ", omittingEmptySubsequences: true)[5]) }
        #expect(Set(names) == ["root-link", "outside-link"], "the diff holds only the two links:\n\(listing)")
        #expect(listing.contains("root-link -> /") && listing.contains("outside-link -> \(outside)"), "\(listing)")
    }

    /// The snapshotter's root on a 64 MiB ext4 volume; an image of one
    /// 96 MiB layer cannot fit. containerd reports ENOSPC, the failed
    /// layer's snapshot and its directory go (so the space comes back), and
    /// the store goes on: a small image imports, a view of it mounts, and
    /// after a kill -9 the snapshotter opens its metadata again.
    @Test(.timeLimit(.minutes(10)))
    func aFullVolumeGivesContainerdENOSPCAndTheStoreGoesOn() async throws {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let root = directory.file("snapshots")
        try await mountScratchExt4(
            size: "64M", image: directory.file("volume.img"), at: root, in: directory, cleanup: cleanup)
        let free = { () throws -> UInt64 in
            let stats = try FileManager.default.attributesOfFileSystem(forPath: root)
            return (stats[.systemFreeSize] as? NSNumber)?.uint64Value ?? 0
        }
        try await Self.image(directory, mode: ["large", "96"], archive: "large.tar")
        let small = try await Self.image(directory, mode: [], archive: "small.tar", layout: "small-oci")

        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        let freeBefore = try free()
        let large = try await run(
            "ctr", ["-a", containerd.socket, "images", "import", "--snapshotter", "buse", directory.file("large.tar")],
            in: directory, timeout: .seconds(120))
        #expect(!large.succeeded && large.standardError.contains("no space left on device"), "\(large)")
        let listed = try await containerd.snapshots(["ls"]).standardOutput
        #expect(!listed.contains("Active"), "the failed layer's snapshot is left: \(listed)")
        let snapshots = root + "/snapshots"
        try await waitUntil("the failed layer's directory is removed", timeout: .seconds(60)) {
            SnapshotterCrashTests.directoryCount(snapshots) == 0
        }
        let freeAfter = try free()
        #expect(freeAfter + (4 << 20) >= freeBefore, "the failed layer's space came back: \(freeAfter) of \(freeBefore) bytes free")

        try await containerd.ctr(["images", "import", "--snapshotter", "buse", directory.file("small.tar")], timeout: .seconds(120))
        try await containerd.view("small-view", parent: small)
        try await containerd.mount("small-view", at: directory.file("view"), cleanup: cleanup)
        #expect(FileManager.default.fileExists(atPath: directory.file("view") + "/etc/hostname"))

        try await containerd.restartSnapshotterAfterKillNine()
        try await containerd.waitUntilTheSnapshotterAnswers()
        try await containerd.snapshots(["prepare", "after-restart", small])
        try await containerd.snapshots(["rm", "after-restart"])
    }

    /// Writes an OCI archive with ``OracleImageScript`` in `mode`; returns its top chain ID.
    @discardableResult
    static func image(
        _ directory: TemporaryDirectory, mode: [String], archive: String, layout: String = "oci"
    ) async throws -> String {
        let script = directory.file("image.py")
        if !FileManager.default.fileExists(atPath: script) {
            try OracleImageScript.source.write(toFile: script, atomically: true, encoding: .utf8)
        }
        let scratch = directory.file("scratch-\(layout)")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let made = try await runChecked(
            "python3", [script, directory.file(layout), scratch] + mode, in: directory, timeout: .seconds(120),
            environment: Tool.systemEnvironment)
        try await runChecked("tar", ["-C", directory.file(layout), "-cf", directory.file(archive), "."], in: directory)
        return made.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
