import Testing

/// Every NBD command and every flag, sent by python3-libnbd (nbdsh) to a
/// memory and a file export, with the data read back and checked.
@Suite struct NbdshCommandTests {
    /// The script reports each observation; `expected` below is the contract.
    static let script = """
        import random
        size = h.get_size()
        rng = random.Random(7)
        first = rng.randbytes(1 << 20)
        step("write", lambda: h.pwrite(first, 0))
        report("read returns what was written", h.pread(1 << 20, 0) == first)
        second = rng.randbytes(65536)
        step("write with FUA", lambda: h.pwrite(second, 1 << 20, nbd.CMD_FLAG_FUA))
        report("FUA write reads back", h.pread(65536, 1 << 20) == second)
        odd = rng.randbytes(777)
        step("unaligned write", lambda: h.pwrite(odd, 12345))
        expected = bytearray(first); expected[12345:12345 + 777] = odd
        report("unaligned write keeps its neighbours", h.pread(1 << 20, 0) == expected)
        step("flush", lambda: h.flush())
        step("zero", lambda: h.zero(8192, 4096))
        expected[4096:12288] = bytes(8192)
        after = h.pread(65536, 0)
        report("zero reads back as zeros", after[4096:12288] == bytes(8192))
        report("zero keeps its neighbours", after == expected[:65536])
        step("zero with NO_HOLE", lambda: h.zero(65536, 65536, nbd.CMD_FLAG_NO_HOLE))
        report("NO_HOLE zero reads back as zeros", h.pread(65536, 65536) == bytes(65536))
        step("zero with FAST_ZERO", lambda: h.zero(65536, 131072, nbd.CMD_FLAG_FAST_ZERO))
        report("fast zero reads back as zeros", h.pread(65536, 131072) == bytes(65536))
        step("zero with FUA", lambda: h.zero(4096, 196608, nbd.CMD_FLAG_FUA))
        report("FUA zero reads back as zeros", h.pread(4096, 196608) == bytes(4096))
        step("unaligned zero", lambda: h.zero(1000, 300000))
        report("unaligned zero keeps its neighbours",
               h.pread(1000, 299000) == expected[299000:300000] and h.pread(1000, 301000) == expected[301000:302000]
               and h.pread(1000, 300000) == bytes(1000))
        step("trim", lambda: h.trim(393216, 524288))
        step("trim with FUA", lambda: h.trim(65536, 917504, nbd.CMD_FLAG_FUA))
        report("trim keeps its neighbours",
               h.pread(65536, 983040) == expected[983040:1048576] and h.pread(65536, 458752) == expected[458752:524288])
        step("cache", lambda: h.cache(1 << 20, 0))
        chunks = []
        def chunk(data, offset, status, error):
            chunks.append((offset, len(data), status))
            return 0
        data = h.pread_structured(65536, 983040, chunk, nbd.CMD_FLAG_DF)
        report("DF read is one data chunk",
               chunks == [(983040, 65536, nbd.READ_DATA)] and data == expected[983040:1048576])
        extents = []
        def status(context, offset, entries, error):
            extents.append((context, entries))
            return 0
        step("block status", lambda: h.block_status(size, 0, status))
        lengths = sum(extents[0][1][0::2]) if extents else 0
        report("block status covers at most the request and is base:allocation",
               len(extents) == 1 and extents[0][0] == "base:allocation" and 0 < lengths <= size)
        extents.clear()
        step("block status with REQ_ONE", lambda: h.block_status(size, 0, status, nbd.CMD_FLAG_REQ_ONE))
        report("REQ_ONE gives one extent", len(extents) == 1 and len(extents[0][1]) == 2)
        last = bytes([0x5a])
        step("write the last byte", lambda: h.pwrite(last, size - 1))
        report("the last byte reads back", h.pread(1, size - 1) == last)
        big = rng.randbytes(h.get_block_size(nbd.SIZE_MAXIMUM))
        step("write of the maximum payload", lambda: h.pwrite(big, size - len(big)))
        report("read of the maximum payload", h.pread(len(big), size - len(big)) == big)
        other = nbd.NBD()
        other.connect_uri(uri)
        step("flush before another connection reads", lambda: h.flush())
        report("another connection sees flushed writes", other.pread(len(big), size - len(big)) == big)
        other.shutdown()
        report("block sizes", (h.get_block_size(nbd.SIZE_MINIMUM), h.get_block_size(nbd.SIZE_PREFERRED), len(big)))
        for flag in ["flush", "fua", "trim", "zero", "fast_zero", "cache", "df", "multi_conn"]:
            report("can " + flag, getattr(h, "can_" + flag)())
        report("read only", h.is_read_only())
        h.shutdown()
        report("done", True)
        """

    static let expected: [String: String] = [
        "write": "ok", "read returns what was written": "True",
        "write with FUA": "ok", "FUA write reads back": "True",
        "unaligned write": "ok", "unaligned write keeps its neighbours": "True",
        "flush": "ok",
        "zero": "ok", "zero reads back as zeros": "True", "zero keeps its neighbours": "True",
        "zero with NO_HOLE": "ok", "NO_HOLE zero reads back as zeros": "True",
        "zero with FAST_ZERO": "ok", "fast zero reads back as zeros": "True",
        "zero with FUA": "ok", "FUA zero reads back as zeros": "True",
        "unaligned zero": "ok", "unaligned zero keeps its neighbours": "True",
        "trim": "ok", "trim with FUA": "ok", "trim keeps its neighbours": "True",
        "cache": "ok",
        "DF read is one data chunk": "True",
        "block status": "ok", "block status covers at most the request and is base:allocation": "True",
        "block status with REQ_ONE": "ok", "REQ_ONE gives one extent": "True",
        "write the last byte": "ok", "the last byte reads back": "True",
        "write of the maximum payload": "ok", "read of the maximum payload": "True",
        "flush before another connection reads": "ok", "another connection sees flushed writes": "True",
        "block sizes": "(1, 4096, 33554432)",
        "can flush": "True", "can fua": "True", "can trim": "True", "can zero": "True",
        "can fast_zero": "True", "can cache": "True", "can df": "True", "can multi_conn": "True",
        "read only": "False", "done": "True",
    ]

    @Test(arguments: ["memory:64M", "file"])
    func everyCommandAndFlagDoesWhatTheSpecSays(device: String) async throws {
        let directory = try TemporaryDirectory()
        let uri = device == "file" ? "file:\(directory.file("disk.img"))?size=64M" : device
        let server = try await BuseServer(exports: ["disk=\(uri)"], in: directory)
        let report = try await Nbdsh.run(
            Self.script, uri: server.uri("disk"), variables: ["uri": server.uri("disk")], in: directory)
        for (name, value) in Self.expected.sorted(by: { $0.key < $1.key }) {
            #expect(report[name] == value, "\(name): expected \(value), got \(report[name] ?? "nothing")\n\(report)")
        }
        await server.stopExpectingCleanExit()
    }
}
