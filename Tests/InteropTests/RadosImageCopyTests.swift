import Foundation
import TestSupport
import Testing

/// `buse image import|export|copy` on the shared cluster: byte-identical
/// round trips checked with cmp, thinness checked through the objects
/// `rados ls` sees and the blocks `stat` counts, the progress lines a log
/// gets, and every refusal.
@Suite struct RadosImageCopyTests {
    static let mebibyte: UInt64 = 1 << 20

    /// A 64 MiB sparse file: random data in 10 MiB spread over 10 objects
    /// of 1 MiB, the last byte's MiB among them, and 2 MiB of written
    /// zeros (allocated in the file, but data nowhere).
    static func sparseSource(in directory: TemporaryDirectory) async throws -> String {
        let path = directory.file("source.img")
        try await DiskImage.random(at: path, mebibytes: 64, dataRanges: [0..<3, 17..<18, 40..<45, 63..<64], in: directory)
        try await runChecked(
            "dd", ["if=/dev/zero", "of=\(path)", "bs=1M", "seek=30", "count=2", "conv=notrunc", "status=none"], in: directory)
        return path
    }

    @Test func aSparseFileImportsThinAndExportsBackIdenticalAndSparse() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        let source = try await Self.sparseSource(in: fixture.directory)
        #expect(try ImageCopyFixture.allocatedBytes(source) >= 12 * Self.mebibyte, "the source holds its written zeros")
        let image = try fixture.newImage()

        let imported = try await fixture.image(["import", source, image, "--object-size", "1M"])
        #expect(imported.succeeded, "\(imported)")
        #expect(imported.standardOutput.contains("imported \(source) into \(image): 64.0 MiB, 10.0 MiB of data written"), "\(imported)")
        // Standard error is not a terminal here: plain lines, the last at 100%.
        #expect(imported.standardError.contains("import: 100% (64.0 MiB of 64.0 MiB)"), "\(imported)")
        #expect(!imported.standardError.contains("\r"), "no live line when standard error is a file:\n\(imported)")
        let info = try await fixture.image(["info", image])
        #expect(info.standardOutput.contains("objects: 64, of which 10 may hold data"), "\(info)")
        #expect(try await fixture.dataObjects(image).count == 10, "only objects with data exist")

        let exported = fixture.directory.file("exported.img")
        let export = try await fixture.image(["export", image, exported])
        #expect(export.succeeded, "\(export)")
        #expect(export.standardError.contains("export: 100% (64.0 MiB of 64.0 MiB)"), "\(export)")
        let compare = try await run("cmp", [source, exported], in: fixture.directory)
        #expect(compare.exitStatus == 0, "the export differs from the source:\n\(compare)")
        let allocated = try ImageCopyFixture.allocatedBytes(exported)
        #expect(
            allocated >= 10 * Self.mebibyte && allocated <= 11 * Self.mebibyte,
            "the export should hold its 10 MiB of data and holes elsewhere, but holds \(allocated) bytes")

        // And the copy from image to image is as thin, and identical.
        let copy = try fixture.newImage()
        let copied = try await fixture.image(["copy", image, copy])
        #expect(copied.succeeded, "\(copied)")
        #expect(try await fixture.image(["info", copy]).standardOutput.contains("of which 10 may hold data"))
        let again = fixture.directory.file("again.img")
        try await runChecked(try Tool.buse(), ["image", "export", copy, again, "--conf", fixture.conf], in: fixture.directory)
        #expect(try await run("cmp", [source, again], in: fixture.directory).exitStatus == 0)

        // A device URI as the source: a read-only rados: device has no map
        // to trust, so every byte is read, and zeros are found by looking.
        let fromURI = try fixture.newImage()
        let uriImport = try await fixture.image(["import", "rados:\(image)?conf=\(fixture.conf)", fromURI])
        #expect(uriImport.standardOutput.contains("10.0 MiB of data written, 54.0 MiB left as holes; 64.0 MiB read"), "\(uriImport)")
        #expect(try await fixture.dataObjects(fromURI).count == 5, "4 MiB objects: the data lies in 5 of them")
    }

    /// Under a terminal (script(1) gives it one), progress is one line
    /// rewritten in place, ended by a newline once the copy is done.
    @Test func onATerminalProgressIsOneLiveLine() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        let source = try await Self.sparseSource(in: fixture.directory)
        let image = try fixture.newImage()
        let command = [try Tool.buse(), "image", "import", source, image, "--conf", fixture.conf].map(shellQuoted)
        let result = try await runChecked("script", ["-qec", command.joined(separator: " "), "/dev/null"], in: fixture.directory)
        let output = result.standardOutput
        #expect(output.contains("\r\u{1B}[Kimport: 100% (64.0 MiB of 64.0 MiB)"), "\(result)")
        // The last state of the live line ends with a newline (the terminal
        // turns it into \r\n) before the summary. Whether a rate and a time
        // left follow "100% (...)" depends on whether the copy took over a
        // second, so the rest of that line is not pinned.
        let lastLiveLine = output.components(separatedBy: "\u{1B}[K").last ?? ""
        #expect(lastLiveLine.hasPrefix("import: 100% (64.0 MiB of 64.0 MiB)"), "\(result)")
        #expect(lastLiveLine.contains("\r\nimported "), "the live line is ended:\n\(result)")
        #expect(output.contains("\nimported \(source) into \(image): 64.0 MiB"), "the summary starts a line of its own:\n\(result)")
    }

    /// Served by buse and read by libnbd: the imported image has holes
    /// where the source had none of data, and the same bytes.
    @Test func anImportedImageServesTheSourceBytesWithHoles() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        let source = try await Self.sparseSource(in: fixture.directory)
        let image = try fixture.newImage()
        try await runChecked(try Tool.buse(), ["image", "import", source, image, "--conf", fixture.conf], in: fixture.directory)
        let server = try await BuseServer(exports: ["disk=rados:\(image)?conf=\(fixture.conf)"], in: fixture.directory)
        let same = try await run(
            "qemu-img", ["compare", "-f", "raw", "-F", "raw", source, server.uri("disk")], in: fixture.directory)
        #expect(same.standardOutput.contains("Images are identical"), "\(same)")
        let map = try await runChecked("nbdinfo", ["--map", server.uri("disk")], in: fixture.directory)
        #expect(map.standardOutput.contains("hole,zero"), "holes where the source had no data:\n\(map)")
        await server.stopExpectingCleanExit()
    }

    /// An image that held other data reads exactly as the source after an
    /// import with --existing, and objects that became zeros are removed.
    @Test func anImportIntoAnExistingImageReplacesItsContent() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        let full = fixture.directory.file("full.img")
        try await DiskImage.random(at: full, mebibytes: 80, dataRanges: [0..<80], in: fixture.directory)
        let image = try fixture.newImage()
        try await runChecked(
            try Tool.buse(), ["image", "import", full, image, "--object-size", "1M", "--conf", fixture.conf], in: fixture.directory)
        #expect(try await fixture.dataObjects(image).count == 80)

        let source = try await Self.sparseSource(in: fixture.directory)
        let refused = try await fixture.image(["import", source, image])
        #expect(refused.exitStatus == 1 && refused.standardError.contains("already exists; pass --existing"), "\(refused)")
        let imported = try await fixture.image(["import", source, image, "--existing"])
        #expect(imported.succeeded, "\(imported)")
        #expect(imported.standardOutput.contains("54.0 MiB zeroed"), "the 54 MiB without data are zeroed:\n\(imported)")
        // 10 objects of data, and the 16 past the source's 64 MiB are left alone.
        #expect(try await fixture.dataObjects(image).count == 26)
        let exported = fixture.directory.file("exported.img")
        try await runChecked(try Tool.buse(), ["image", "export", image, exported, "--conf", fixture.conf], in: fixture.directory)
        try await runChecked("truncate", ["-s", "64M", exported], in: fixture.directory)
        #expect(try await run("cmp", [source, exported], in: fixture.directory).exitStatus == 0)
    }

    /// A loop device full of other data: export writes over it only with
    /// --overwrite, zeroes what has no data and leaves what lies past the
    /// image alone; import takes the device back (no block status there,
    /// so every byte is read and zeros are found by looking).
    @Test func aBlockDeviceIsWrittenOverOnlyWithOverwriteAndImportsBack() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        guard FileManager.default.fileExists(atPath: "/dev/loop-control") else {
            throw InteropError("/dev/loop-control does not exist: loop devices are unavailable here (modprobe loop)")
        }
        let source = try await Self.sparseSource(in: fixture.directory)
        let image = try fixture.newImage()
        try await runChecked(try Tool.buse(), ["image", "import", source, image, "--conf", fixture.conf], in: fixture.directory)
        let original = fixture.directory.file("original.img")
        try await DiskImage.random(at: original, mebibytes: 80, dataRanges: [0..<80], in: fixture.directory)
        let backing = fixture.directory.file("backing.img")
        try await runChecked("cp", [original, backing], in: fixture.directory)
        let attached = try await runChecked("losetup", ["--find", "--show", backing], in: fixture.directory)
        let loop = attached.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let detach = fixture.cleanup.add([try Tool.path("losetup"), "-d", loop])

        let refused = try await fixture.image(["export", image, loop])
        #expect(refused.exitStatus == 1 && refused.standardError.contains("is a block device; pass --overwrite"), "\(refused)")
        #expect(try await run("cmp", [original, loop], in: fixture.directory).exitStatus == 0, "the device is untouched")
        let exported = try await fixture.image(["export", image, loop, "--overwrite"])
        #expect(exported.succeeded && exported.standardOutput.contains("54.0 MiB zeroed"), "\(exported)")
        let head = try await run("cmp", ["-n", "64M", source, loop], in: fixture.directory)
        #expect(head.exitStatus == 0, "the device reads as the image:\n\(head)")
        let tail = try await run("cmp", ["--ignore-initial=64M", original, loop], in: fixture.directory)
        #expect(tail.exitStatus == 0, "bytes past the image are left as they were:\n\(tail)")

        let back = try fixture.newImage()
        let imported = try await fixture.image(["import", loop, back, "--object-size", "1M"])
        #expect(imported.succeeded && imported.standardOutput.contains("80.0 MiB, 26.0 MiB of data written"), "\(imported)")
        #expect(try await fixture.dataObjects(back).count == 26, "10 objects of the image's data and 16 past it")
        let again = fixture.directory.file("again.img")
        try await runChecked(try Tool.buse(), ["image", "export", back, again, "--conf", fixture.conf], in: fixture.directory)
        #expect(try await run("cmp", [loop, again], in: fixture.directory).exitStatus == 0)
        try await runChecked("losetup", ["-d", loop], in: fixture.directory)
        fixture.cleanup.done(detach)
    }

    @Test func copiesThatWouldLoseOrMisplaceDataAreRefused() async throws {
        let fixture = ImageCopyFixture(conf: try SharedCluster.conf(), directory: try TemporaryDirectory(), cleanup: Cleanup())
        defer { fixture.cleanup.runRemaining() }
        let source = try await Self.sparseSource(in: fixture.directory)
        let small = try await RadosTestImage(size: "32M", conf: fixture.conf, cleanup: fixture.cleanup, in: fixture.directory)

        let tooSmall = try await fixture.image(["import", source, small.spec, "--existing"])
        #expect(tooSmall.exitStatus == 1, "\(tooSmall)")
        #expect(tooSmall.standardError.contains("fewer than the source's 67108864"), "\(tooSmall)")
        #expect(tooSmall.standardError.contains("buse image resize \(small.spec)"), "\(tooSmall)")

        let nowhere = try await fixture.image(["import", source, "no-such-pool-\(UUID().uuidString.prefix(6))/vol"])
        #expect(nowhere.exitStatus == 1 && nowhere.standardError.contains("open pool no-such-pool"), "\(nowhere)")

        let missing = try await fixture.image(["import", fixture.directory.file("absent.img"), try fixture.newImage()])
        #expect(missing.exitStatus == 1 && missing.standardError.contains("cannot open the source"), "\(missing)")

        let badOption = try await fixture.image(["import", source, small.spec, "--existing", "--object-size", "1M"])
        #expect(badOption.exitStatus != 0 && badOption.standardError.contains("an existing image keeps its own"), "\(badOption)")

        let absent = try await fixture.image(["export", "\(SharedCluster.pool)/no-such-image", fixture.directory.file("x.img")])
        #expect(absent.exitStatus == 1 && absent.standardError.contains("does not exist"), "\(absent)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.file("x.img")), "no file is left for a refused export")

        let existingFile = fixture.directory.file("kept.img")
        try await runChecked("cp", [source, existingFile], in: fixture.directory)
        let overwrite = try await fixture.image(["export", small.spec, existingFile])
        #expect(overwrite.exitStatus == 1 && overwrite.standardError.contains("exists; pass --overwrite"), "\(overwrite)")
        #expect(try await run("cmp", [source, existingFile], in: fixture.directory).exitStatus == 0, "the file is untouched")

        // An image a running buse writes cannot be copied from.
        let server = try await BuseServer(exports: ["disk=\(small.uri())"], in: fixture.directory)
        let inUse = try await fixture.image(["export", small.spec, fixture.directory.file("busy.img")])
        #expect(inUse.exitStatus == 1 && inUse.standardError.contains("is in use by"), "\(inUse)")
        await server.stopExpectingCleanExit()

        // With --overwrite, the file becomes the (empty) image, sparse.
        let replaced = try await fixture.image(["export", small.spec, existingFile, "--overwrite"])
        #expect(replaced.succeeded, "\(replaced)")
        #expect(try ImageCopyFixture.allocatedBytes(existingFile) == 0)
        try await small.remove(in: fixture.directory)
    }
}
