import Foundation
import TestSupport
import Testing

/// A command whose standard error cannot be written (a log on a full disk:
/// here `/dev/full`, where every write fails with ENOSPC) still does its
/// work and ends as it would have: its progress lines are dropped, not
/// fatal. Foundation's `FileHandle.write` traps on such a write, which once
/// killed an image import half-way with SIGILL.
@Suite struct UnwritableStandardErrorTests {
    /// Runs `buse ARGUMENTS` with standard error on `/dev/full`.
    static func buseWithStandardErrorOnAFullDisk(_ arguments: [String], in directory: TemporaryDirectory) async throws -> RunResult {
        try await run("/bin/sh", ["-c", "exec \"$0\" \"$@\" 2>/dev/full", try Tool.buse()] + arguments, in: directory)
    }

    @Test func registryFsckReportsOnStandardOutputWhenItsProgressCannotBeWritten() async throws {
        let directory = try TemporaryDirectory()
        let root = directory.file("registry")
        let content = Data(repeating: 0x5A, count: 1000)
        let blob = CrashStoreView(root: root).blobData(sha256Digest(content))
        try FileManager.default.createDirectory(
            atPath: (blob as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try content.write(to: URL(fileURLWithPath: blob))

        let fsck = try await Self.buseWithStandardErrorOnAFullDisk(["registry", "fsck", "--root", root], in: directory)
        #expect(fsck.succeeded, "\(fsck)")
        #expect(fsck.standardOutput.contains("fsck: 1 blobs and 0 repositories checked: clean"), "\(fsck)")
    }

    @Test func anImageImportsWholeWhenItsProgressCannotBeWritten() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        let source = fixture.directory.file("source.img")
        try await DiskImage.random(at: source, mebibytes: 16, dataRanges: [0..<2, 9..<16], in: fixture.directory)
        let image = try fixture.newImage()

        let imported = try await Self.buseWithStandardErrorOnAFullDisk(
            ["image", "import", source, image, "--object-size", "1M", "--conf", fixture.conf], in: fixture.directory)
        #expect(imported.succeeded, "\(imported)")
        #expect(imported.standardOutput.contains("imported \(source) into \(image): 16.0 MiB"), "\(imported)")
        let exported = fixture.directory.file("exported.img")
        try await runChecked(
            try Tool.buse(), ["image", "export", image, exported, "--conf", fixture.conf], in: fixture.directory)
        #expect(try await run("cmp", [source, exported], in: fixture.directory).exitStatus == 0)
    }
}
