import Foundation
import TestSupport
import Testing

/// `--active-regions`: how many flushed regions stay marked active, so that
/// a client flushing after every write does not pay a sync of the log per
/// write, and what a crash then resyncs.
extension ReplicationPairTests {
    /// Six writes to six separate 1 MiB regions and a flush, then `kill -9`:
    /// the restarted primary resyncs the two regions written last, which
    /// `--active-regions 2` kept active, and nothing else.
    @Test func aCrashedPrimaryResyncsTheRegionsItKeptActiveAfterTheFlush() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let keepTwo = ["--active-regions", "2"]
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: keepTwo)
        try await a.waitForInSync()
        let script = """
            for region in [0, 2, 4, 6, 8, 10]: h.pwrite(b"r" * 4096, region << 20)
            step("flush", lambda: h.flush())
            """
        let report = try await Nbdsh.run(script, uri: primary.uri("vol"), in: a.directory)
        #expect(report["flush"] == "ok", "\(report)")

        primary.process.send(SIGKILL)
        #expect(await primary.process.waitForTermination(timeout: .seconds(120)) == .signal(SIGKILL))
        try await b.waitForStatus("notices its primary is gone") { $0.peerState == "disconnected" }
        let restarted = try await a.serveAsPrimary(replicatingTo: replica.port, options: keepTwo)
        try await a.waitForInSync()
        #expect(
            restarted.process.standardError.contains("unclean shutdown; 2 active region(s) will be resynced"),
            "\(restarted.log)")
        #expect(Self.resyncedBytes(restarted.process.standardError) == [2 << 20], "\(restarted.log)")
        try await Self.flush(restarted.uri("vol"), in: a.directory)
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "\(difference ?? "")")
        await restarted.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// Both commands refuse a negative count before opening anything.
    @Test(arguments: [
        ["serve", "--export", "vol=memory:1M", "--replicate-to", "127.0.0.1:1"],
        ["replica", "--listen", "127.0.0.1:0", "--device", "memory:1M"],
    ])
    func aNegativeActiveRegionCountIsRefused(command: [String]) async throws {
        let node = try ReplicationNode("a")
        let result = try await node.buse(command + ["--state", node.statePath, "--active-regions=-1"])
        #expect(!result.succeeded && result.standardError.contains("--active-regions must be 0 or more"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: node.statePath), "nothing is opened")
    }
}
