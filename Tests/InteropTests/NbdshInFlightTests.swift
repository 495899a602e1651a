import Testing

/// Many requests in flight on one connection, answered out of order.
@Suite struct NbdshInFlightTests {
    /// 64 asynchronous writes, then 64 reads, of mixed sizes (the first one
    /// 32 MiB, the rest a few KiB) on one handle. Every reply must come back
    /// with the right data; the order of completions is reported. The export
    /// is slow with random jitter (as remote storage is), so a server that
    /// truly keeps requests in flight answers them out of order; one that
    /// served them one at a time would still answer in order.
    static let script = """
        import random
        rng = random.Random(64)
        sizes = [32 << 20] + [512 * rng.randint(1, 16) for _ in range(63)]
        offsets = [sum(sizes[:i]) for i in range(64)]
        payloads = [nbd.Buffer.from_bytearray(bytearray(rng.randbytes(n))) for n in sizes]
        def run(issue):
            order = []
            for i in range(64):
                issue(i, lambda error, i=i: order.append((i, error.value)) or 1)
            in_flight = h.aio_in_flight()
            while h.aio_in_flight() > 0:
                h.poll(-1)
            return in_flight, order
        in_flight, order = run(lambda i, done: h.aio_pwrite(payloads[i], offsets[i], completion=done))
        report("writes in flight at once", in_flight)
        report("writes completed without error", sorted(order) == [(i, 0) for i in range(64)])
        out_of_order = False
        correct = True
        for attempt in range(5):
            buffers = [nbd.Buffer(n) for n in sizes]
            in_flight, order = run(lambda i, done: h.aio_pread(buffers[i], offsets[i], completion=done))
            report("reads in flight at once", in_flight)
            report("reads completed without error", sorted(order) == [(i, 0) for i in range(64)])
            correct = correct and all(buffers[i].to_bytearray() == payloads[i].to_bytearray() for i in range(64))
            out_of_order = out_of_order or [i for i, _ in order] != list(range(64))
            if out_of_order:
                break
        report("every read returned what was written", correct)
        report("some replies came out of order", out_of_order)
        """

    @Test func sixtyFourRequestsInFlightAllCompleteWithTheirOwnData() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:64M?delay=200us&jitter=2ms"], in: directory)
        let report = try await Nbdsh.run(Self.script, uri: server.uri("disk"), in: directory, timeout: .seconds(120))
        #expect(report["writes in flight at once"] == "64")
        #expect(report["writes completed without error"] == "True")
        #expect(report["reads in flight at once"] == "64")
        #expect(report["reads completed without error"] == "True")
        #expect(report["every read returned what was written"] == "True")
        #expect(report["some replies came out of order"] == "True", "\(report)")
        await server.stopExpectingCleanExit()
    }
}
