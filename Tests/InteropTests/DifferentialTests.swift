import Foundation
import Testing

/// The same requests, valid and invalid, sent to buse and to `nbdkit file`
/// over copies of the same image, must get the same answers: the same data,
/// the same error values, and the same bytes on disk at the end. nbdkit is
/// the reference because buse's request validation follows its order.
@Suite struct DifferentialTests {
    @Test func buseAndNbdkitAnswerTheSameRequestsIdentically() async throws {
        let directory = try TemporaryDirectory()
        let base = directory.file("base.img")
        try await DiskImage.random(at: base, mebibytes: 4, dataRanges: [0..<2], in: directory)
        let buseImage = directory.file("buse.img")
        let nbdkitImage = directory.file("nbdkit.img")
        try await runChecked("cp", ["--sparse=always", base, buseImage], in: directory)

        let buse = try await BuseServer(exports: ["disk=file:\(buseImage)"], in: directory)
        let fromBuse = try await Nbdsh.run(
            DifferentialScript.writable, uri: buse.uri("disk"), variables: ["uri": buse.uri("disk")], in: directory)
        let (fromNbdkit, nbdkit) = try await NbdkitServer.answering(
            file: nbdkitImage, exportName: "disk", in: directory,
            prepare: { try await runChecked("cp", ["--sparse=always", base, nbdkitImage], in: directory) }
        ) { nbdkit in
            try await Nbdsh.run(DifferentialScript.writable, uri: nbdkit.uri(), variables: ["uri": nbdkit.uri()], in: directory)
        }
        Self.expectSameAnswers(buse: fromBuse, nbdkit: fromNbdkit, buseLog: buse.log)

        await buse.stopExpectingCleanExit()
        #expect(await nbdkit.stop() == .exit(0), "nbdkit:\n\(nbdkit.log)")
        let buseHash = try await DiskImage.sha256(buseImage, in: directory)
        let nbdkitHash = try await DiskImage.sha256(nbdkitImage, in: directory)
        #expect(buseHash == nbdkitHash, "the two images differ after the same requests")
    }

    @Test func buseAndNbdkitRefuseWritesToAReadOnlyExportIdentically() async throws {
        let directory = try TemporaryDirectory()
        let image = directory.file("base.img")
        try await DiskImage.random(at: image, mebibytes: 1, dataRanges: [0..<1], in: directory)
        let before = try await DiskImage.sha256(image, in: directory)
        let buse = try await BuseServer(exports: ["disk=file:\(image)"], options: ["--read-only"], in: directory)
        let fromBuse = try await Nbdsh.run(DifferentialScript.readOnly, uri: buse.uri("disk"), in: directory)
        let (fromNbdkit, nbdkit) = try await NbdkitServer.answering(
            file: image, exportName: "disk", readOnly: true, in: directory
        ) { nbdkit in
            try await Nbdsh.run(DifferentialScript.readOnly, uri: nbdkit.uri(), in: directory)
        }
        Self.expectSameAnswers(buse: fromBuse, nbdkit: fromNbdkit, buseLog: buse.log)
        #expect(fromBuse["write"] == "EPERM" && fromBuse["trim"] == "EPERM" && fromBuse["zero"] == "EPERM")
        await buse.stopExpectingCleanExit()
        #expect(await nbdkit.stop() == .exit(0), "nbdkit:\n\(nbdkit.log)")
        #expect(try await DiskImage.sha256(image, in: directory) == before, "a read-only export was changed")
    }

    @Test func buseAndNbdkitAnswerRawRequestsLibnbdCannotSendIdentically() async throws {
        let directory = try TemporaryDirectory()
        let buseImage = directory.file("buse.img")
        let nbdkitImage = directory.file("nbdkit.img")
        try await runChecked("truncate", ["-s", "1M", buseImage], in: directory)
        let buse = try await BuseServer(exports: ["disk=file:\(buseImage)"], in: directory)
        let python = try Tool.path("python3")
        let fromBuse = try await runChecked(
            python, ["-c", RawRequestScript.python, buse.socketPath, "disk"], in: directory)
        let (fromNbdkit, nbdkit) = try await NbdkitServer.answering(
            file: nbdkitImage, exportName: "disk", in: directory,
            prepare: {
                try? FileManager.default.removeItem(atPath: nbdkitImage)
                try await runChecked("truncate", ["-s", "1M", nbdkitImage], in: directory)
            }
        ) { nbdkit in
            try await runChecked(python, ["-c", RawRequestScript.python, nbdkit.socketPath, "disk"], in: directory)
        }
        let buseReport = ScriptReport(fromBuse.standardOutput)
        Self.expectSameAnswers(buse: buseReport, nbdkit: ScriptReport(fromNbdkit.standardOutput), buseLog: buse.log)
        #expect(buseReport["unknown command 9"] == "EINVAL")
        #expect(buseReport["flush with an offset"] == "EINVAL")
        #expect(buseReport["write past the end, payload drained"] == "ENOSPC")
        #expect(buseReport["read still in step"] == "ok")
        await buse.stopExpectingCleanExit()
        #expect(await nbdkit.stop() == .exit(0), "nbdkit:\n\(nbdkit.log)")
        #expect(try await DiskImage.sha256(buseImage, in: directory) == DiskImage.sha256(nbdkitImage, in: directory))
    }

    /// Records one issue per request the two servers answered differently.
    static func expectSameAnswers(
        buse: ScriptReport, nbdkit: ScriptReport, buseLog: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            buse.lines.map(\.name) == nbdkit.lines.map(\.name),
            "the transcripts differ in their steps:\nbuse:\n\(buse)\nnbdkit:\n\(nbdkit)",
            sourceLocation: sourceLocation)
        for (mine, theirs) in zip(buse.lines, nbdkit.lines) where mine.value != theirs.value {
            Issue.record(
                "\(mine.name): buse answered \(mine.value), nbdkit answered \(theirs.value)",
                sourceLocation: sourceLocation)
        }
        if buse.lines.map(\.value) != nbdkit.lines.map(\.value) {
            Issue.record("buse's log:\n\(buseLog)", sourceLocation: sourceLocation)
        }
    }
}
