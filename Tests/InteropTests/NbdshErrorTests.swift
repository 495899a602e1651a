import TestSupport
import Testing

/// The error values buse answers invalid requests with, as libnbd sees them.
/// Strict mode is off so that libnbd sends what it would otherwise refuse
/// itself, and the server's own answer is what gets checked.
@Suite struct NbdshErrorTests {
    /// Out-of-range requests: EINVAL for reads (and for trim, cache and
    /// block status, as nbdkit does and the spec's default), ENOSPC for
    /// requests that store data (write, write zeroes).
    static let outOfRange = """
        h.set_strict_mode(0)
        size = h.get_size()
        ignore = lambda *args: 0
        step("read past the end", lambda: h.pread(4096, size - 512))
        step("read starting at the end", lambda: h.pread(512, size))
        step("read whose end overflows", lambda: h.pread(4096, 2**64 - 1024))
        step("write past the end", lambda: h.pwrite(bytes(4096), size - 512))
        step("write starting past the end", lambda: h.pwrite(bytes(512), size + 4096))
        step("zero past the end", lambda: h.zero(4096, size - 512))
        step("trim past the end", lambda: h.trim(4096, size - 512))
        step("cache past the end", lambda: h.cache(4096, size - 512))
        step("block status past the end", lambda: h.block_status(4096, size - 512, ignore))
        step("read longer than the maximum payload", lambda: h.pread(33554433, 0))
        step("write longer than the maximum payload", lambda: h.pwrite(bytes(33554433), 0))
        step("read after the errors", lambda: h.pread(512, size - 512))
        """

    @Test func outOfRangeRequestsGetEINVALForReadsAndENOSPCForWrites() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:64M"], in: directory)
        let report = try await Nbdsh.run(Self.outOfRange, uri: server.uri("disk"), in: directory)
        let expected = [
            "read past the end": "EINVAL", "read starting at the end": "EINVAL", "read whose end overflows": "EINVAL",
            "write past the end": "ENOSPC", "write starting past the end": "ENOSPC", "zero past the end": "ENOSPC",
            "trim past the end": "EINVAL", "cache past the end": "EINVAL", "block status past the end": "EINVAL",
            "read longer than the maximum payload": "EINVAL", "write longer than the maximum payload": "EINVAL",
            "read after the errors": "ok 076a27c79e5ace2a",
        ]
        for (name, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(report[name] == value, "\(name): expected \(value), got \(report[name] ?? "nothing")")
        }
        await server.stopExpectingCleanExit()
    }

    static let readOnly = """
        h.set_strict_mode(0)
        size = h.get_size()
        step("write", lambda: h.pwrite(b"x" * 4096, 0))
        step("write with FUA", lambda: h.pwrite(b"x" * 4096, 0, nbd.CMD_FLAG_FUA))
        step("trim", lambda: h.trim(4096, 0))
        step("zero", lambda: h.zero(4096, 0))
        step("zero with NO_HOLE", lambda: h.zero(4096, 0, nbd.CMD_FLAG_NO_HOLE))
        step("write past the end", lambda: h.pwrite(b"x" * 4096, size))
        step("read", lambda: h.pread(4096, 0))
        step("flush", lambda: h.flush())
        step("cache", lambda: h.cache(4096, 0))
        """

    @Test func everyWriteToAReadOnlyExportIsRefusedWithEPERM() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:1M?readonly"], in: directory)
        let report = try await Nbdsh.run(Self.readOnly, uri: server.uri("disk"), in: directory)
        let expected = [
            "write": "EPERM", "write with FUA": "EPERM", "trim": "EPERM", "zero": "EPERM",
            "zero with NO_HOLE": "EPERM", "write past the end": "EPERM",
            "read": "ok ad7facb2586fc6e9", "flush": "ok", "cache": "ok",
        ]
        for (name, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(report[name] == value, "\(name): expected \(value), got \(report[name] ?? "nothing")")
        }
        await server.stopExpectingCleanExit()
    }

    static let misusedFlags = """
        h.set_strict_mode(0)
        ignore = lambda *args: 0
        step("read with NO_HOLE", lambda: h.pread(512, 0, nbd.CMD_FLAG_NO_HOLE))
        step("read with REQ_ONE", lambda: h.pread(512, 0, nbd.CMD_FLAG_REQ_ONE))
        step("read with FAST_ZERO", lambda: h.pread(512, 0, nbd.CMD_FLAG_FAST_ZERO))
        step("write with DF", lambda: h.pwrite(b"a" * 512, 0, nbd.CMD_FLAG_DF))
        step("write with NO_HOLE", lambda: h.pwrite(b"a" * 512, 0, nbd.CMD_FLAG_NO_HOLE))
        step("write with an unknown flag", lambda: h.pwrite(b"a" * 512, 0, 1 << 7))
        step("trim with FAST_ZERO", lambda: h.trim(512, 0, nbd.CMD_FLAG_FAST_ZERO))
        step("zero with DF", lambda: h.zero(512, 0, nbd.CMD_FLAG_DF))
        step("zero with REQ_ONE", lambda: h.zero(512, 0, nbd.CMD_FLAG_REQ_ONE))
        step("block status with DF", lambda: h.block_status(512, 0, ignore, nbd.CMD_FLAG_DF))
        step("the connection still works", lambda: h.pread(512, 0))
        """

    @Test func flagsOnCommandsTheyDoNotApplyToAreRefusedWithEINVAL() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:1M"], in: directory)
        let report = try await Nbdsh.run(Self.misusedFlags, uri: server.uri("disk"), in: directory)
        for (name, value) in report.lines where name != "the connection still works" {
            #expect(value == "EINVAL", "\(name): expected EINVAL, got \(value)")
        }
        #expect(report.lines.count == 11, "\(report)")
        #expect(report["the connection still works"] == "ok 076a27c79e5ace2a")
        await server.stopExpectingCleanExit()
    }

    /// The spec leaves zero-length requests unspecified, so any answer will
    /// do; what must not happen is the server dying, which takes every
    /// other client's export with it.
    @Test(
        arguments: [
            ("read", "h.pread(0, 4096)"), ("write", "h.pwrite(b\"\", 4096)"), ("trim", "h.trim(0, 4096)"),
            ("zero", "h.zero(0, 4096)"), ("cache", "h.cache(0, 4096)"),
            ("block status", "h.block_status(0, 4096, lambda *args: 0)"),
        ], ["memory:1M", "file"])
    func aZeroLengthRequestIsAnsweredAndTheServerKeepsServing(command: (String, String), device: String) async throws {
        let directory = try TemporaryDirectory()
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=1M" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        let report = try await Nbdsh.run(
            """
            h.set_strict_mode(0)
            report("zero-length \(command.0)", outcome(lambda: \(command.1)))
            step("the same connection still works", lambda: h.pread(512, 0))
            other = nbd.NBD()
            step("a new connection works", lambda: (other.connect_uri(uri), other.pread(512, 0))[1])
            """, uri: server.uri("disk"), variables: ["uri": server.uri("disk")], in: directory)
        if report["a new connection works"] != "ok 076a27c79e5ace2a" {
            _ = await server.process.waitForTermination(timeout: .seconds(5))
        }
        if let ended = server.process.termination {
            Issue.record("buse \(ended) on a zero-length \(command.0) to a \(device) export:\n\(server.log)")
            return
        }
        #expect(report["zero-length \(command.0)"] != nil, "\(report)")
        #expect(report["the same connection still works"] == "ok 076a27c79e5ace2a", "\(report)\n\(server.log)")
        #expect(report["a new connection works"] == "ok 076a27c79e5ace2a", "\(report)\n\(server.log)")
        await server.stopExpectingCleanExit()
    }
}
