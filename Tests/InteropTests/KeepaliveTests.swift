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
        // The timer counts down from the idle time: at most 60 s.
        let seconds = line.flatMap { $0.split(separator: "keepalive,").last }.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect(seconds.map { $0 <= 60 } == true, "\(line ?? "")")
        guard FileManager.default.createFile(atPath: stop, contents: nil) else { throw InteropError("cannot create \(stop)") }
        _ = try await client.finish(timeout: .seconds(120))
        await server.stopExpectingCleanExit()
    }
}
