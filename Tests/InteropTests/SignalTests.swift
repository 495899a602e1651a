import Foundation
import Testing

/// SIGTERM asks buse for a graceful shutdown, whenever it arrives.
@Suite struct SignalTests {
    @Test func sigtermWithClientsConnectedFinishesTheirWorkAndExitsZero() async throws {
        let directory = try TemporaryDirectory()
        let server = try await BuseServer(exports: ["disk=memory:16M"], in: directory)
        let report = try await Nbdsh.run(
            """
            h.pwrite(b"\\x42" * 65536, 0)
            h.flush()
            report("written", h.pread(65536, 0) == b"\\x42" * 65536)
            """, uri: server.uri("disk"), in: directory)
        #expect(report["written"] == "True")
        await server.stopExpectingCleanExit()
        #expect(!FileManager.default.fileExists(atPath: server.socketPath), "buse should remove its socket on exit")
    }

    /// Once buse has printed its hints it is listening, and a supervisor
    /// (systemd, a test) may stop it at once. Sending SIGTERM the moment the
    /// hints appear, several times over, catches the window in which buse
    /// listens but has not yet installed its handler: there a SIGTERM kills
    /// it with the default action, or, once SIG_IGN is set but the dispatch
    /// source is not yet armed, is lost and buse never exits.
    @Test func sigtermRightAfterStartupStillShutsDownGracefully() async throws {
        for round in 1...20 {
            let directory = try TemporaryDirectory()
            let server = try await BuseServer(exports: ["disk=memory:1M"], in: directory, waitForSignalHandler: false)
            let ended = await server.stop(timeout: .seconds(120))
            let outcome = ended?.description ?? "ignored it and was still running 10 s later"
            #expect(ended == .exit(0), "round \(round): SIGTERM right after the hints: buse \(outcome)")
            if ended == nil { server.process.send(SIGKILL) }
            if ended != .exit(0) { break }
        }
    }
}
