import Foundation
import TestSupport

/// Random numbered writes from several NBD connections at once (libnbd's
/// Python binding, one process per connection), logged so that a test can
/// later prove that no acknowledged write was lost.
///
/// The volume is cut into 4 KiB blocks; connection `i` owns the blocks
/// `b` with `b % connections == i`, so no two connections write the same
/// block and the order of a block's writes is known. Generation `g` of
/// block `b` is the 16 bytes (b, g) repeated; generation 0 is zeros. Each
/// connection keeps up to 8 writes in flight, never two to one block, and
/// logs "b g" to `sent-i.log` before sending and to `acknowledged-i.log`
/// once the server acknowledges. It runs until the stop file appears (then
/// it waits for what is in flight, flushes and disconnects), until an NBD
/// error (the server died), or for at most two minutes.
final class NumberedWriteLoad: Sendable {
    static let blockLength = 4096
    static let blockCount = ReplicationNode.volumeSize / blockLength

    let directory: TemporaryDirectory
    let workers: [ChildProcess]
    let seed: UInt32
    private let stopPath: String

    /// Starts `connections` writers against `uri`, logging into `directory`.
    init(uri: String, connections: Int = 4, in directory: TemporaryDirectory) throws {
        self.directory = directory
        let seed = UInt32.random(in: 0...UInt32.max)
        self.seed = seed
        stopPath = directory.file("load.stop")
        let script = directory.file("load.py")
        try Self.writer.write(toFile: script, atomically: true, encoding: .utf8)
        workers = try (0..<connections).map { worker in
            try ChildProcess(
                "/usr/bin/python3",
                [
                    script, uri, String(worker), String(connections), String(Self.blockCount), String(seed &+ UInt32(worker)),
                    directory.file("sent-\(worker).log"), directory.file("acknowledged-\(worker).log"), directory.file("load.stop"),
                ],
                outputPrefix: directory.unique("load-\(worker)"), environment: Tool.systemEnvironment,
                currentDirectory: directory.path)
        }
    }

    /// Writes acknowledged so far, over every connection.
    var acknowledgedCount: Int {
        workers.indices.reduce(0) { total, worker in
            let log = (try? Data(contentsOf: URL(fileURLWithPath: directory.file("acknowledged-\(worker).log")))) ?? Data()
            return total + log.count(where: { $0 == UInt8(ascii: "\n") })
        }
    }

    /// Waits until `count` more writes than `baseline` are acknowledged; throws if a writer ends first.
    func waitForAcknowledged(_ count: Int, after baseline: Int = 0, timeout: Duration = .seconds(300)) async throws {
        try await waitUntil("\(count) more writes are acknowledged", timeout: timeout) {
            for worker in workers {
                if let ended = worker.termination {
                    throw InteropError("a writer \(ended) early:\n\(worker.standardOutput)\n\(worker.standardErrorTail())")
                }
            }
            return acknowledgedCount >= baseline + count
        }
    }

    /// Asks every writer to finish (drain, flush, disconnect) and returns their reports.
    func stop(timeout: Duration = .seconds(300)) async throws -> [ScriptReport] {
        _ = FileManager.default.createFile(atPath: stopPath, contents: Data())
        return try await finish(timeout: timeout)
    }

    /// Waits for every writer to end by itself (after the server died) and returns their reports.
    func finish(timeout: Duration = .seconds(300)) async throws -> [ScriptReport] {
        var reports: [ScriptReport] = []
        for worker in workers {
            guard let ended = await worker.waitForTermination(timeout: timeout) else {
                worker.send(SIGKILL)
                throw InteropError("a writer was still running after \(timeout):\n\(worker.standardOutput)")
            }
            guard ended == .exit(0) else {
                throw InteropError("a writer \(ended):\n\(worker.standardOutput)\n\(worker.standardErrorTail())")
            }
            reports.append(ScriptReport(worker.standardOutput))
        }
        return reports
    }

    /// Reads every block of `source` (an image file, or an NBD URI) and
    /// reports how many hold their last acknowledged generation, a later one
    /// that was sent (in flight when the server died), an older one (lost),
    /// or anything else (torn).
    func verify(_ source: String) async throws -> ScriptReport {
        let script = directory.file("verify.py")
        try Self.verifier.write(toFile: script, atomically: true, encoding: .utf8)
        let result = try await runChecked(
            "/usr/bin/python3", [script, source, String(Self.blockCount), String(workers.count), directory.path],
            in: directory, timeout: .seconds(120), environment: Tool.systemEnvironment)
        return ScriptReport(result.standardOutput)
    }

    static let pattern = """
        import struct
        def pattern(b, g):
            return bytes(4096) if g == 0 else struct.pack("<QQ", b, g) * 256
        """

    static let writer =
        pattern + """

            import nbd, os, random, sys, time
            uri, worker, workers, blocks, seed, sent_path, acknowledged_path, stop_path = sys.argv[1:9]
            worker, workers, blocks = int(worker), int(workers), int(blocks)
            rng = random.Random(int(seed))
            mine = list(range(worker, blocks, workers))
            generation, in_flight, busy = {}, {}, set()
            sent = open(sent_path, "w", buffering=1)
            acknowledged = open(acknowledged_path, "w", buffering=1)
            count, ended = 0, "deadline"
            h = nbd.NBD()
            def collect():
                global count
                for cookie in list(in_flight):
                    if h.aio_command_completed(cookie):
                        b, g, _ = in_flight.pop(cookie)
                        busy.discard(b)
                        generation[b] = g
                        acknowledged.write(f"{b} {g}\\n")
                        count += 1
            try:
                h.connect_uri(uri)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    if os.path.exists(stop_path):
                        ended = "stop file"
                        break
                    while len(in_flight) < 8:
                        b = rng.choice(mine)
                        if b in busy:
                            continue
                        g = generation.get(b, 0) + 1
                        buffer = nbd.Buffer.from_bytearray(bytearray(pattern(b, g)))
                        sent.write(f"{b} {g}\\n")
                        in_flight[h.aio_pwrite(buffer, b * 4096)] = (b, g, buffer)
                        busy.add(b)
                    h.poll(-1)
                    collect()
                while in_flight:
                    h.poll(-1)
                    collect()
                h.flush()
                h.shutdown()
                print("flushed=yes", flush=True)
            except nbd.Error as error:
                ended = f"error {error}"
            print(f"ended by={ended}", flush=True)
            print(f"acknowledged={count}", flush=True)
            """

    static let verifier =
        pattern + """

            import glob, nbd, sys
            source, blocks, workers, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
            def latest(stem):
                last = {}
                for path in glob.glob(f"{folder}/{stem}-*.log"):
                    for line in open(path):
                        parts = line.split()
                        if len(parts) == 2:
                            b, g = int(parts[0]), int(parts[1])
                            last[b] = max(last.get(b, 0), g)
                return last
            sent, acknowledged = latest("sent"), latest("acknowledged")
            if source.startswith("nbd"):
                h = nbd.NBD()
                h.connect_uri(source)
                read = lambda b: bytes(h.pread(4096, b * 4096))
            else:
                image = open(source, "rb")
                def read(b):
                    image.seek(b * 4096)
                    return image.read(4096)
            lost, torn, in_flight_landed = [], [], 0
            for b in range(blocks):
                data = read(b)
                low, high = acknowledged.get(b, 0), sent.get(b, 0)
                if data == pattern(b, low):
                    continue
                if high > low and any(data == pattern(b, g) for g in range(low + 1, high + 1)):
                    in_flight_landed += 1
                elif any(data == pattern(b, g) for g in range(low)):
                    lost.append(b)
                else:
                    torn.append(b)
            acknowledged_writes = 0
            for path in glob.glob(f"{folder}/acknowledged-*.log"):
                acknowledged_writes += sum(1 for _ in open(path))
            print(f"checked={blocks}")
            print(f"acknowledged writes={acknowledged_writes}")
            print(f"in flight and landed={in_flight_landed}")
            print(f"lost={len(lost)}")
            print(f"torn={len(torn)}")
            print(f"examples={[(b, acknowledged.get(b, 0), sent.get(b, 0)) for b in (lost + torn)[:5]]}")
            """
}
