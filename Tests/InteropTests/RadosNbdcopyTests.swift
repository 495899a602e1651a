import Testing

/// nbdcopy (libnbd) copies a 512 MiB image into a RADOS image served by buse
/// and back out unchanged, over several connections with many requests in
/// flight; qemu-img compares the export with the source.
@Suite struct RadosNbdcopyTests {
    @Test func nbdcopyRoundTripThroughARadosImageIsByteIdentical() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let source = directory.file("source.img")
        let copy = directory.file("copy.img")
        // Data and holes, neither aligned to the 4 MiB objects, and the last byte.
        try await DiskImage.random(
            at: source, mebibytes: 512, dataRanges: [0..<130, 197..<330, 401..<402, 511..<512], in: directory)
        let image = try await RadosTestImage(size: "512M", conf: conf, cleanup: cleanup, in: directory)
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)

        try await runChecked("nbdcopy", ["--flush", source, server.uri("disk")], in: directory, timeout: .seconds(120))
        try await runChecked("nbdcopy", [server.uri("disk"), copy], in: directory, timeout: .seconds(120))
        let compare = try await run("cmp", [source, copy], in: directory, timeout: .seconds(120))
        #expect(compare.exitStatus == 0, "the copy differs from the source:\n\(compare)")
        let same = try await run(
            "qemu-img", ["compare", "-f", "raw", "-F", "raw", source, server.uri("disk")], in: directory,
            timeout: .seconds(120))
        #expect(same.exitStatus == 0, "qemu-img compare should find the export identical to the source:\n\(same)")
        #expect(same.standardOutput.contains("Images are identical"), "\(same)")
        // Objects never written are holes: the image stayed thin.
        let map = try await runChecked("nbdinfo", ["--map", server.uri("disk")], in: directory)
        #expect(map.standardOutput.contains("hole,zero"), "expected holes where nothing was written:\n\(map)")

        await server.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }
}
