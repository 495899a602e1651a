import Foundation
import TestSupport
import Testing

/// Two images that share their base layer, imported one after the other:
/// the second costs one new snapshot (its own layer), never a second copy of
/// the base; and the snapshotter's Usage (`ctr snapshots usage`) agrees with
/// what its snapshot directories hold on disk (`du`).
@Suite struct SnapshotterSharingTests {
    @Test func aSecondImageSharingTheBaseAddsOnlyItsOwnLayerAndUsageAgreesWithTheDisk() async throws {
        let directory = try TemporaryDirectory()
        let first = try await SnapshotterImages.busyboxPlus(files: [("/first", 300_000)], name: "sharing-first", in: directory)
        let second = try await SnapshotterImages.busyboxPlus(files: [("/second", 500_000)], name: "sharing-second", in: directory)
        let containerd = try await PrivateContainerd(in: directory)
        defer { containerd.stop() }
        let snapshots = containerd.snapshotterRoot + "/snapshots"

        try await containerd.ctr(["images", "import", "--snapshotter", "buse", first])
        let afterFirst = try await SnapshotterCrashTests.listedSnapshots(containerd)
        try await containerd.ctr(["images", "import", "--snapshotter", "buse", second])
        let afterSecond = try await SnapshotterCrashTests.listedSnapshots(containerd)
        #expect(afterFirst.count == 2, "\(afterFirst)")
        #expect(afterSecond.count == 3, "the shared busybox layer is one snapshot: \(afterSecond)")
        #expect(SnapshotterCrashTests.directoryCount(snapshots) == 3)

        let usage = try await containerd.snapshots(["usage"])
        var reported = 0.0
        for line in usage.standardOutput.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            // KEY SIZE INODES, the size as "300.0 KiB" (two fields) or bytes.
            guard fields.count >= 3, let bytes = Self.bytes(fields.count >= 4 ? fields[1] + fields[2] : fields[1]) else {
                throw InteropError("cannot read usage: \(usage)")
            }
            reported += bytes
        }
        let du = try await runChecked("du", ["-s", "-B1", snapshots], in: directory)
        let onDisk = Double(String(du.standardOutput.split(separator: "\t").first ?? "")) ?? 0
        // ctr prints sizes rounded to 3 or 4 digits; du counts the snapshot directories' own blocks too.
        #expect(reported > 0 && abs(reported - onDisk) <= 0.05 * onDisk + 65_536, "Usage \(reported) bytes, du \(onDisk) bytes:\n\(usage)")
        print("sharing: 3 snapshots for 2 images of 2 layers; Usage \(Int(reported)) bytes, du \(Int(onDisk)) bytes")
    }

    /// "1.9MiB", "300.0KiB", "4096": a size `ctr snapshots usage` printed, its unit joined on.
    static func bytes(_ text: String) -> Double? {
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("kB", 1000), ("MB", 1e6), ("GB", 1e9), ("B", 1),
        ]
        for (unit, scale) in units where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return Double(text)
    }
}
