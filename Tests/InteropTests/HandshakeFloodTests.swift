import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

/// A flood of clients that connect, take the greeting and say nothing (as
/// nbdkit 1.32 was measured here to hold 2,000 of for over a minute, a
/// thread each): buse admits up to `--max-connections` (1024) and closes the
/// rest at once, closes the admitted ones after `--handshake-timeout`, and
/// meanwhile a client that negotiated before the flood keeps writing and
/// reading back its own data. Afterwards the server is back to its idle
/// threads, and a second flood leaves its memory where the first did.
@Suite struct HandshakeFloodTests {
    static let stalledCount = 10_000

    /// Writes 16 distinct 4 KiB blocks and reads each back, round after
    /// round, until the test creates `stop`.
    static let client = """
        import os
        rounds = 0
        mismatches = 0
        while not os.path.exists(stop):
            for i in range(16):
                data = bytes([(rounds * 16 + i) % 251 + 1]) * 4096
                h.pwrite(data, i * 65536)
                if h.pread(4096, i * 65536) != data:
                    mismatches += 1
            rounds += 1
            if rounds == 20:
                report("running", "yes")
            if os.path.exists(flooded) and "rounds during the flood" not in reported:
                reported.add("rounds during the flood")
                report("rounds during the flood", rounds)
        report("rounds", rounds)
        report("mismatches", mismatches)
        """

    @Test func tenThousandStalledHandshakesAreClosedWhileANegotiatedClientKeepsWorking() async throws {
        try StalledClients.raiseDescriptorLimit(to: UInt(Self.stalledCount) + 4096)
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(
            exports: ["disk=memory:16M"], options: ["--handshake-timeout", "3", "--metrics", "127.0.0.1:0"], in: directory)
        let metrics = try await MetricsScrape(of: server.process)
        let pid = server.process.processIdentifier
        let stop = directory.file("stop"), flooded = directory.file("flooded")
        let client = try BackgroundNbdsh(
            "reported = set()\n" + Self.client, uri: server.uri("disk"), variables: ["stop": stop, "flooded": flooded],
            in: directory)
        try await client.waitForReport("running", timeout: .seconds(120))
        let idleThreads = try ProcessFigures.threads(of: pid)

        var residentAfterFlood: [Int] = []
        for flood in 1...2 {
            let stalled = try await runOnThread { try StalledClients(count: Self.stalledCount, path: server.socketPath) }
            guard FileManager.default.createFile(atPath: flooded, contents: nil) else { throw InteropError("cannot create \(flooded)") }
            // Every one is closed by the server: at once past the maximum,
            // after the 3 s handshake timeout otherwise.
            let left = try await runOnThread { stalled.waitUntilClosedByPeer(within: .seconds(600)) }
            #expect(left == 0, "flood \(flood): \(left) stalled connections still open:\n\(server.log)")
            let text = try await metrics.text(in: directory)
            let refused = MetricsScrape.value(text, "buse_nbd_connections_refused_total") ?? -1
            let timedOut = MetricsScrape.value(text, "buse_nbd_handshakes_timed_out_total") ?? -1
            #expect(refused + timedOut == Double(flood * Self.stalledCount), "flood \(flood): \(refused) + \(timedOut)")
            #expect(timedOut >= Double(flood), "some were admitted and then timed out: \(timedOut)")
            try await waitUntil("the server is back to its \(idleThreads) idle threads", timeout: .seconds(300)) {
                try ProcessFigures.threads(of: pid) <= idleThreads
            }
            residentAfterFlood.append(try ProcessFigures.residentKiB(of: pid))
        }
        // A second flood leaves the server's memory where the first left it
        // (glibc keeps up to 40 MiB of freed thread stacks for reuse, so the
        // first flood's level, not the idle one, is the mark).
        #expect(
            residentAfterFlood[1] <= residentAfterFlood[0] + 8 * 1024,
            "resident KiB after each flood: \(residentAfterFlood)")

        guard FileManager.default.createFile(atPath: stop, contents: nil) else { throw InteropError("cannot create \(stop)") }
        let report = try await client.finish(timeout: .seconds(120))
        #expect(report["mismatches"] == "0", "\(report)")
        let during = Int(report["rounds during the flood"] ?? "") ?? 0
        let rounds = Int(report["rounds"] ?? "") ?? 0
        #expect(rounds > during && during >= 20, "the negotiated client kept going: \(report)")
        await server.stopExpectingCleanExit()
    }
}

/// Figures of another process from `/proc/PID/status`.
enum ProcessFigures {
    static func threads(of pid: Int32) throws -> Int { try field("Threads:", of: pid) }
    static func residentKiB(of pid: Int32) throws -> Int { try field("VmRSS:", of: pid) }

    private static func field(_ name: String, of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
            let value = Int(line.dropFirst(name.count).split(whereSeparator: \.isWhitespace).first ?? "")
        else { throw InteropError("no \(name) in /proc/\(pid)/status") }
        return value
    }
}

/// Unix-socket connections that never say anything. Blocking and used from
/// one thread at a time (the test's `runOnThread` calls).
final class StalledClients: Sendable {
    private let descriptors: Mutex<[Int32]>

    init(count: Int, path: String) throws {
        var opened: [Int32] = []
        opened.reserveCapacity(count)
        do {
            for _ in 0..<count { opened.append(try connectToUnixSocket(path)) }
        } catch {
            for descriptor in opened { close(descriptor) }
            throw error
        }
        descriptors = Mutex(opened)
    }

    deinit { descriptors.withLock { for descriptor in $0 { close(descriptor) } } }

    /// Waits, with `poll`, until the server has closed every connection
    /// (each one's greeting, if it got one, is drained and then EOF read);
    /// returns how many were still open when `limit` ran out.
    func waitUntilClosedByPeer(within limit: Duration) -> Int {
        let deadline = ContinuousClock.now + limit
        return descriptors.withLock { descriptors in
            var buffer = [UInt8](repeating: 0, count: 256)
            while !descriptors.isEmpty && ContinuousClock.now < deadline {
                var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                guard poll(&entries, nfds_t(entries.count), 1000) >= 0 else { continue }
                var open: [Int32] = []
                for entry in entries {
                    var closed = false
                    if entry.revents != 0 {
                        while true {
                            let count = recv(entry.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                            if count > 0 { continue }
                            closed = count == 0 || (errno != EAGAIN && errno != EINTR)
                            break
                        }
                    }
                    if closed { close(entry.fd) } else { open.append(entry.fd) }
                }
                descriptors = open
            }
            return descriptors.count
        }
    }

    /// Ten thousand sockets here and as many accepted by the server (which
    /// inherits the limit) need more than a default soft limit of 1024.
    static func raiseDescriptorLimit(to wanted: UInt) throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { throw InteropError("getrlimit: errno \(errno)") }
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = max(limit.rlim_cur, wanted)
        if limit.rlim_max < wanted { limit.rlim_max = wanted }
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw InteropError("cannot raise the descriptor limit to \(wanted): errno \(errno)")
        }
    }
}
