import Foundation
import TestSupport
import Testing

/// `buse layers diff` (from the upper directory alone) against containerd's
/// walking differ (`ctr snapshots diff`, View of the parent against the
/// active mounts) on seeded random changes over a committed parent: the
/// same members, and the same tree once applied. Runs as root.
@Suite struct LayerDiffEqualityTests {
    @Test(.timeLimit(.minutes(10)))
    func fastDiffHasTheMembersOfContainerdsWalkingDiffer() async throws {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        try LayerComparisonScript.source.write(toFile: directory.file("compare.py"), atomically: true, encoding: .utf8)
        var kinds: [String: Int] = [:]
        for seed: UInt64 in [1, 2, 3, 4, 5] {
            let counted = try await compare(seed: seed, containerd: containerd, cleanup: cleanup)
            kinds.merge(counted, uniquingKeysWith: +)
        }
        // The seeds must reach every kind of member that needs care.
        for kind in ["device", "hardlink", "opaque", "symlink", "whiteout"] {
            #expect(kinds[kind, default: 0] > 0, "no \(kind) member in any seed's layer: \(kinds)")
        }
    }

    /// Compares one seed's layers; returns the fast layer's count of each special kind of member.
    private func compare(seed: UInt64, containerd: PrivateContainerd, cleanup: Cleanup) async throws -> [String: Int] {
        let directory = containerd.directory
        let base = "base-\(seed)"
        let work = "work-\(seed)"
        let mountPoint = directory.file("mnt-\(seed)")
        var tree = RandomTree(root: mountPoint, seed: seed)
        try await containerd.snapshots(["prepare", base + "-active"])
        try await containerd.mount(base + "-active", at: mountPoint, cleanup: cleanup)
        tree.populate(entries: 40)
        try await runChecked("umount", [mountPoint], in: directory)
        try await containerd.snapshots(["commit", base, base + "-active"])
        try await containerd.snapshots(["prepare", work, base])
        try await containerd.mount(work, at: mountPoint, cleanup: cleanup)
        tree.change(count: 30)
        try await runChecked("umount", [mountPoint], in: directory)

        let walking = directory.file("walking-\(seed).tar")
        let fast = directory.file("fast-\(seed).tar")
        let ctr =
            ["ctr", "-a", containerd.socket, "snapshots", "--snapshotter", "buse", "diff"]
            + ["--media-type", "application/vnd.oci.image.layer.v1.tar", work]
        try await runChecked("sh", ["-c", ctr.map(shellQuoted).joined(separator: " ") + " > " + shellQuoted(walking)], in: directory)
        try await runChecked(
            try Tool.buse(), ["layers", "diff", work, "--root", containerd.snapshotterRoot, "--output", fast], in: directory)

        // The same layer gzipped, on standard output.
        let gzip = [try Tool.buse(), "layers", "diff", work, "--root", containerd.snapshotterRoot, "--gzip"]
        try await runChecked("sh", ["-c", gzip.map(shellQuoted).joined(separator: " ") + " > " + shellQuoted(fast + ".gz")], in: directory)
        try await runChecked("sh", ["-c", "gzip -dc \(shellQuoted(fast + ".gz")) | cmp - \(shellQuoted(fast))"], in: directory)

        let parent = directory.file("parent-\(seed)")
        // The parent read through an untouched active snapshot on it, not a
        // View: ctr labels what it prepares and commits as a garbage
        // collection root but not a view, and the differ's lease ends with a
        // synchronous collection that may remove an unlabelled view.
        try await containerd.snapshots(["prepare", base + "-reader", base])
        try await containerd.mount(base + "-reader", at: parent, cleanup: cleanup)
        defer { _ = try? FileManager.default.removeItem(atPath: walking) }
        let result = try await run(
            "python3", [directory.file("compare.py"), parent, walking, fast], in: directory, environment: Tool.systemEnvironment)
        try await runChecked("umount", [parent], in: directory)
        #expect(result.succeeded, "seed \(seed): \(result)\nchanges:\n\(tree.log.joined(separator: "\n"))")
        let counts = result.standardOutput.split(whereSeparator: \.isWhitespace).compactMap { word -> (String, Int)? in
            let parts = word.split(separator: "=")
            guard parts.count == 2, let count = Int(parts[1]) else { return nil }
            return (String(parts[0]), count)
        }
        return Dictionary(counts, uniquingKeysWith: +)
    }

}
