import Foundation
import Testing

/// Accepted TCP connections carry buse's keepalive policy (see
/// `Listener.keepaliveIdleSeconds`): a client that vanished without a reset
/// is probed after 60 s of silence and closed after six unanswered probes,
/// so its thread and `--max-connections` slot come back. Checked on the
/// live socket with `ss`, which shows the kernel's keepalive timer.
@Suite struct KeepaliveTests {
    @Test func anAcceptedTCPConnectionHasTheKeepaliveTimerArmed() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:1M"], options: ["--listen", "127.0.0.1:0"], in: directory)
        let port = try #require(server.tcpPort, "\(server.process.standardOutput)")
        let stop = directory.file("stop")
        let client = try BackgroundNbdsh(
            """
            import os, time
            report("connected", h.get_size())
            while not os.path.exists(stop):
                time.sleep(0.05)
            """, uri: "nbd://127.0.0.1:\(port)/disk", variables: ["stop": stop], in: directory)
        try await client.waitForReport("connected", timeout: .seconds(120))
        // Right after a reply the retransmission timer shows instead (until
        // the client's ACK): wait for the connection to be idle.
        var line: Substring?
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let sockets = try await runChecked("ss", ["-tno", "state", "established", "( sport = :\(port) )"], in: directory)
            line = sockets.standardOutput.split(separator: "\n").first { $0.contains("127.0.0.1:\(port)") }
            if line?.contains("timer:(keepalive,") == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(line?.contains("timer:(keepalive,") == true, "\(line ?? "no connection in ss")")
        // The timer counts down from the idle time: at most 60 s (Linux's
        // own default is 7200 s, which `ss` shows as "120min").
        let timer = line.flatMap { $0.split(separator: "keepalive,").last }  // "59sec,0)"
        let left = timer.flatMap { Self.milliseconds($0.prefix { $0 != "," }) }
        #expect(left.map { $0 <= 60_000 } == true, "\(line ?? "")")
        guard FileManager.default.createFile(atPath: stop, contents: nil) else { throw InteropError("cannot create \(stop)") }
        _ = try await client.finish(timeout: .seconds(120))
        await server.stopExpectingCleanExit()
    }

    /// The time left on a timer as `ss` prints it, in milliseconds:
    /// `[Nmin]` then `Ssec`, `S.mmmms` or `mmmms`, or nothing at all once
    /// none is left (a loaded machine saw `timer:(keepalive,,0)`, a timer
    /// due and not yet run). Nil for anything else.
    static func milliseconds(_ text: Substring) -> Int? {
        guard let match = text.wholeMatch(of: /(?:(\d+)min)?(?:(\d+)sec|(\d+)\.(\d+)ms|(\d+)ms)?/) else { return nil }
        let (_, minutes, seconds, wholeSeconds, fraction, milliseconds) = match.output
        let parts = [(minutes, 60_000), (seconds, 1000), (wholeSeconds, 1000), (fraction, 1), (milliseconds, 1)]
        return parts.reduce(0) { total, part in total + (part.0.flatMap { Int($0) } ?? 0) * part.1 }
    }

    @Test(arguments: [
        ("59sec", 59_000), ("59.250ms", 59_250), ("1min", 60_000), ("120min", 7_200_000), ("1min5sec", 65_000),
        ("500ms", 500), ("", 0),
    ])
    func theTimeLeftIsReadAsSsPrintsIt(text: String, milliseconds: Int) {
        #expect(Self.milliseconds(Substring(text)) == milliseconds)
    }

    @Test func somethingElseIsNotATimeLeft() {
        #expect(Self.milliseconds("soon") == nil)
        #expect(Self.milliseconds("5s") == nil)
    }
}
