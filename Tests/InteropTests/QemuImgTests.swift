import Foundation
import Testing

/// qemu-img (QEMU's NBD client) writes, reads and compares whole images.
@Suite struct QemuImgTests {
    @Test func qemuImgConvertIntoBuseAndCompareFindsThemIdentical() async throws {
        let directory = try TemporaryDirectory()
        let source = directory.file("source.img")
        try await DiskImage.random(at: source, mebibytes: 64, dataRanges: [0..<16, 32..<40, 63..<64], in: directory)
        let server = try await BuseServer(exports: ["disk=file:\(directory.file("disk.img"))?size=64M"], in: directory)
        let target = server.uri("disk")
        try await runChecked("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", source, target], in: directory)
        let same = try await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", source, target], in: directory)
        #expect(same.exitStatus == 0, "qemu-img compare should find the images identical:\n\(same)")
        #expect(same.standardOutput.contains("Images are identical"), "\(same)")

        // Out again, into qcow2, and compared with the source.
        let qcow2 = directory.file("copy.qcow2")
        try await runChecked("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", target, qcow2], in: directory)
        let again = try await run("qemu-img", ["compare", "-f", "raw", "-F", "qcow2", source, qcow2], in: directory)
        #expect(again.exitStatus == 0, "the qcow2 copy should match the source:\n\(again)")

        // One changed byte in the export is found, at its offset.
        try await runChecked("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 33554432 1", target], in: directory)
        let changed = try await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", source, target], in: directory)
        #expect(changed.exitStatus == 1, "qemu-img compare should report a mismatch:\n\(changed)")
        #expect(changed.standardOutput.contains("Content mismatch at offset 33554432"), "\(changed)")
        await server.stopExpectingCleanExit()
    }

    @Test func qemuImgInfoAndMapSeeTheExportSizeAndHoles() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:32M"], in: directory)
        try await runChecked("qemu-io", ["-f", "raw", "-c", "write -P 0x77 1M 1M", server.uri("disk")], in: directory)
        let info = try await runChecked("qemu-img", ["info", "--output=json", server.uri("disk")], in: directory)
        #expect(info.standardOutput.contains("\"virtual-size\": 33554432"), "\(info)")
        let map = try await runChecked(
            "qemu-img", ["map", "--output=json", "-f", "raw", server.uri("disk")], in: directory)
        let extents = try JSONDecoder().decode([QemuMapExtent].self, from: Data(map.standardOutput.utf8))
        let expected = [
            QemuMapExtent(start: 0, length: 1 << 20, zero: true, data: false),
            QemuMapExtent(start: 1 << 20, length: 1 << 20, zero: false, data: true),
            QemuMapExtent(start: 2 << 20, length: 30 << 20, zero: true, data: false),
        ]
        #expect(extents == expected, "\(map)")
        await server.stopExpectingCleanExit()
    }
}

/// One entry of `qemu-img map --output=json`, the fields the test checks.
struct QemuMapExtent: Decodable, Equatable {
    var start: Int
    var length: Int
    var zero: Bool
    var data: Bool
}
