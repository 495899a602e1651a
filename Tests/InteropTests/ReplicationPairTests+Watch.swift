import Foundation
import Testing

extension ReplicationPairTests {
    /// `buse status --watch --until-in-sync` follows a new peer's full copy:
    /// the peer's state as it changes on standard output, the resync's
    /// progress every tenth on standard error (not a terminal), and it exits
    /// 0 once the peer is in sync. The resync is held to 8 MiB/s, so it lasts
    /// at least 8 s on any machine: long enough for the watch to see it.
    @Test func statusWatchFollowsAResyncAndExitsOnceThePeerIsInSync() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: ["--resync-rate", "8M"])
        let watch = try await a.buse(
            ["status", "--state", a.statePath, "--watch", "--until-in-sync", "--interval", "0.1"], timeout: .seconds(300))
        #expect(watch.succeeded, "\(watch)")
        #expect(watch.standardOutput.split(separator: "\n").last?.hasSuffix("in-sync") == true, "\(watch)")
        let progress = watch.standardError.split(separator: "\n").filter { $0.hasPrefix("resync: ") && $0.contains("% (") }
        #expect(progress.count >= 2, "the resync's progress, a line every tenth:\n\(watch)")
        #expect(try await a.status().peerState == "in-sync")
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    @Test func untilInSyncWithoutWatchIsRefused() async throws {
        let node = try ReplicationNode("lonely")
        let result = try await node.buse(["status", "--state", node.statePath, "--until-in-sync"])
        #expect(!result.succeeded && result.standardError.contains("--until-in-sync goes with --watch"), "\(result)")
    }
}
