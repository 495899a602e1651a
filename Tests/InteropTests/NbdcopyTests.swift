import Testing

/// nbdcopy (libnbd) copies a whole image into buse and back out unchanged,
/// over several connections with many requests in flight.
@Suite struct NbdcopyTests {
    @Test(arguments: ["memory:256M", "file"])
    func nbdcopyRoundTripIsByteIdentical(device: String) async throws {
        let directory = try TemporaryDirectory()
        let source = directory.file("source.img")
        let copy = directory.file("copy.img")
        try await DiskImage.random(
            at: source, mebibytes: 256, dataRanges: [0..<96, 160..<224, 255..<256], in: directory)
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=256M" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        try await runChecked("nbdcopy", ["--flush", source, server.uri("disk")], in: directory, timeout: .seconds(120))
        try await runChecked("nbdcopy", [server.uri("disk"), copy], in: directory, timeout: .seconds(120))
        let compare = try await run("cmp", [source, copy], in: directory, timeout: .seconds(120))
        #expect(compare.exitStatus == 0, "the copy differs from the source:\n\(compare)")
        let sourceHash = try await DiskImage.sha256(source, in: directory)
        let copyHash = try await DiskImage.sha256(copy, in: directory)
        #expect(sourceHash == copyHash)
        // The zero regions were sent as zeros, and buse stored them as holes.
        let map = try await runChecked("nbdinfo", ["--map", server.uri("disk")], in: directory)
        #expect(map.standardOutput.contains("hole,zero"), "expected holes after copying zeros:\n\(map.standardOutput)")
        await server.stopExpectingCleanExit()
    }
}
