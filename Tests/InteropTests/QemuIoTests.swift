import Testing

/// qemu-io drives single requests with patterns it verifies itself; it
/// exits 1 when any command (or any pattern check) fails.
@Suite struct QemuIoTests {
    static let commands = [
        "write -P 0xab 0 64k", "read -P 0xab 0 64k",
        "write -f -P 0xcd 64k 64k", "read -P 0xcd 64k 64k",  // FUA
        "discard 0 64k", "read -P 0xcd 64k 64k",  // trim keeps the neighbour
        "write -P 0x11 128k 64k", "write -z 128k 64k", "read -P 0 128k 64k",  // zero, NO_HOLE
        "write -P 0x22 192k 64k", "write -z -u 192k 64k", "read -P 0 192k 64k",  // zero that may trim
        "write -P 0x33 256k 64k", "write -z -n 256k 64k", "read -P 0 256k 64k",  // fast zero
        "aio_write -P 0xef 320k 64k", "aio_flush", "read -P 0xef 320k 64k",
        "writev -P 0x44 384k 4k 8k 512", "readv -P 0x44 384k 4k 8k 512",
        "write -P 0x55 66536 3000", "read -P 0x55 66536 3000",  // unaligned, with its neighbours
        "read -P 0xcd 65536 1000", "read -P 0xcd 69536 1000",
        "write -P 0x66 63M 1M", "read -P 0x66 63M 1M",  // the last MiB
        "flush", "read -P 0 1M 64k",
    ]

    @Test(arguments: ["memory:64M", "file"])
    func qemuIoPatternsReadBackAfterWriteDiscardAndWriteZeroes(device: String) async throws {
        let directory = try TemporaryDirectory()
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=64M" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        let arguments = ["-f", "raw"] + Self.commands.flatMap { ["-c", $0] } + [server.uri("disk")]
        let result = try await run("qemu-io", arguments, in: directory)
        #expect(result.exitStatus == 0, "\(result)")
        #expect(!result.standardOutput.contains("Pattern verification failed"), "\(result)")
        #expect(!result.standardError.contains("error"), "\(result)")
        let reads = result.standardOutput.split(separator: "\n").filter { $0.hasPrefix("read ") }
        #expect(reads.count == Self.commands.filter { $0.hasPrefix("read") }.count, "\(result)")

        // A wrong pattern is noticed, so the checks above mean something.
        let wrong = try await run(
            "qemu-io", ["-f", "raw", "-c", "read -P 0xab 64k 64k", server.uri("disk")], in: directory)
        #expect(wrong.exitStatus == 1 && wrong.standardOutput.contains("Pattern verification failed"), "\(wrong)")
        await server.stopExpectingCleanExit()
    }

    @Test func qemuIoOnAReadOnlyExportReadsButCannotWrite() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:8M"], options: ["--read-only"], in: directory)
        let read = try await run(
            "qemu-io", ["-r", "-f", "raw", "-c", "read -P 0 0 1M", server.uri("disk")], in: directory)
        #expect(read.exitStatus == 0, "\(read)")
        let write = try await run("qemu-io", ["-f", "raw", "-c", "write -P 1 0 4k", server.uri("disk")], in: directory)
        #expect(write.exitStatus != 0, "qemu-io must not be able to write a read-only export:\n\(write)")
        await server.stopExpectingCleanExit()
    }
}
