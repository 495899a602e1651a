import Foundation
import TestSupport
import Testing

/// `kill -9` of buse in the middle of random writes to a RADOS image loses
/// no acknowledged write. A writer keeps 32 writes of numbered 4 KiB blocks
/// in flight (never two on the same block), logging each write before it
/// is sent and again once buse acknowledges it. After the kill the stale
/// lock refuses a plain restart; a restart with `break-lock` takes the
/// image, and every block reads back as its last acknowledged write or the
/// one that was in flight, never older and never torn. The image has
/// 64 KiB objects, so the load keeps writing objects for the first time
/// (object map before data) right up to the kill.
@Suite struct RadosCrashTests {
    /// Blocks are 4 KiB, `stride` blocks apart, so each 64 KiB object holds two.
    static let blockCount = 2048, stride = 8

    /// Block `b` at generation `g` is the 16 bytes (b, g) repeated; generation 0 is zeros.
    static let pattern = """
        import struct
        def pattern(b, g):
            return bytes(4096) if g == 0 else struct.pack("<QQ", b, g) * 256
        def offset(b):
            return b * int(stride) * 4096
        """

    static let load =
        pattern + """

            import random, time
            rng = random.Random(int(seed))
            blocks = int(block_count)
            generation = [0] * blocks
            in_flight = {}  # cookie -> (block, generation, buffer libnbd holds)
            busy = set()
            sent = open(sent_path, "w", buffering=1)
            acknowledged = open(acknowledged_path, "w", buffering=1)
            count = 0
            deadline = time.monotonic() + 120
            try:
                while time.monotonic() < deadline:
                    while len(in_flight) < 32:
                        b = rng.randrange(blocks)
                        if b in busy:
                            continue
                        g = generation[b] + 1
                        buffer = nbd.Buffer.from_bytearray(bytearray(pattern(b, g)))
                        sent.write(f"{b} {g}\\n")
                        in_flight[h.aio_pwrite(buffer, offset(b))] = (b, g, buffer)
                        busy.add(b)
                    h.poll(-1)
                    for cookie in list(in_flight):
                        if h.aio_command_completed(cookie):
                            b, g, _ = in_flight.pop(cookie)
                            busy.discard(b)
                            generation[b] = g
                            acknowledged.write(f"{b} {g}\\n")
                            count += 1
                report("ended by", "deadline")
            except nbd.Error as error:
                report("ended by", f"error {error}")
            report("acknowledged", count)
            """

    static let verify =
        pattern + """

            def latest(path):
                last = {}
                for line in open(path):
                    b, g = map(int, line.split())
                    last[b] = max(last.get(b, 0), g)
                return last
            sent, acknowledged = latest(sent_path), latest(acknowledged_path)
            lost, torn, in_flight_landed = [], [], 0
            for b in range(int(block_count)):
                data = bytes(h.pread(4096, offset(b)))
                low, high = acknowledged.get(b, 0), sent.get(b, 0)
                if data == pattern(b, low):
                    continue
                if high > low and data == pattern(b, high):
                    in_flight_landed += 1
                elif any(data == pattern(b, g) for g in range(low)):
                    lost.append(b)
                else:
                    torn.append(b)
            report("checked", int(block_count))
            report("acknowledged writes", sum(1 for _ in open(acknowledged_path)))
            report("in flight and landed", in_flight_landed)
            report("lost", len(lost))
            report("torn", len(torn))
            report("examples", [(b, acknowledged.get(b, 0), sent.get(b, 0)) for b in (lost + torn)[:5]])
            """

    @Test func everyAcknowledgedWriteSurvivesAKillAndARestartThatBreaksTheLock() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(
            size: "64M", objectSize: "64K", conf: conf, cleanup: cleanup, in: directory)
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)
        let seed = UInt32.random(in: 0...UInt32.max)
        let variables = [
            "seed": String(seed), "block_count": String(Self.blockCount), "stride": String(Self.stride),
            "sent_path": directory.file("sent.log"), "acknowledged_path": directory.file("acknowledged.log"),
        ]
        let writer = try BackgroundNbdsh(Self.load, uri: server.uri("disk"), variables: variables, in: directory)
        let acknowledgedPath = directory.file("acknowledged.log")
        try await waitUntil("the writer has 3000 acknowledged writes", timeout: .seconds(90)) {
            if let ended = writer.process.termination {
                throw InteropError(
                    "the writer \(ended) early:\n\(writer.report)\n\(writer.process.standardErrorTail())")
            }
            let log = (try? String(contentsOfFile: acknowledgedPath, encoding: .utf8)) ?? ""
            return log.utf8.count(where: { $0 == UInt8(ascii: "\n") }) >= 3000
        }
        server.process.send(SIGKILL)
        let killed = await server.process.waitForTermination(timeout: .seconds(120))
        #expect(killed == .signal(SIGKILL), "buse should die of SIGKILL: \(killed?.description ?? "still running")")
        let load = try await writer.finish(timeout: .seconds(60))
        #expect(load["ended by"]?.hasPrefix("error") == true, "the writer should see the connection die: \(load)")

        // The dead writer's lock is still there: a plain restart is refused.
        let restartDirectory = try TemporaryDirectory()
        let plain = try await run(
            try Tool.buse(),
            ["serve", "--unix", restartDirectory.file("plain.sock"), "--export", "disk=\(image.uri())"],
            in: restartDirectory, timeout: .seconds(60))
        #expect(
            plain.exitStatus != nil && plain.exitStatus != 0 && plain.standardError.contains("is in use by"),
            "a restart without break-lock should be refused by the stale lock:\n\(plain)")

        let restarted = try await BuseServer(exports: ["disk=\(image.uri("break-lock"))"], in: restartDirectory)
        let check = try await Nbdsh.run(
            Self.verify, uri: restarted.uri("disk"), variables: variables, in: restartDirectory, timeout: .seconds(120))
        let acknowledged = Int(check["acknowledged writes"] ?? "") ?? 0
        #expect(acknowledged >= 3000, "\(check)")
        #expect(check["checked"] == String(Self.blockCount), "\(check)")
        #expect(check["lost"] == "0", "acknowledged writes were lost (seed \(seed)):\n\(check)")
        #expect(check["torn"] == "0", "blocks hold data that was never written whole (seed \(seed)):\n\(check)")
        await restarted.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }
}
