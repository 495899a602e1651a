import Foundation
import Testing

extension ReplicationPairTests {
    /// A promoted node is served alone (`--state` without `--replicate-to`)
    /// while its old primary is away: its writes go through its log, so
    /// when the old primary rejoins as its replica it is caught up
    /// incrementally and ends identical.
    @Test func aPromotedNodeServesAloneAndItsLaterPeerGetsWhatItMissed() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port)
        try await a.waitForInSync()
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
        let promotion = try await b.buse(["promote", "--state", b.statePath])
        #expect(promotion.succeeded, "\(promotion)")

        let alone = try await BuseServer(exports: ["vol=\(b.deviceURI)"], options: ["--state", b.statePath], in: b.directory)
        let written = b.directory.file("written.img")
        try await DiskImage.random(at: written, mebibytes: 2, dataRanges: [0..<2], in: b.directory)
        try await runChecked("nbdcopy", ["--flush", written, alone.uri("vol")], in: b.directory)
        let status = try await b.status()
        #expect(status.role == "primary" && status.peer == nil, "\(status)")
        #expect(status.writesDegraded > 0 && status.lagBytes + status.dirtyBytes > 0, "the log records what a peer misses: \(status)")
        await alone.stopExpectingCleanExit()

        let rejoinPort = try freeLoopbackPort()
        let promoted = try await b.serveAsPrimary(replicatingTo: rejoinPort)
        let old = try await a.serveAsReplica(port: rejoinPort)
        try await b.waitForInSync(timeout: .seconds(90))
        #expect(promoted.process.standardError.contains("): incremental"), "the old primary rejoins incrementally:\n\(promoted.log)")
        try await Self.flush(promoted.uri("vol"), in: b.directory)
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: b.directory)
        #expect(difference == nil, "\(difference ?? "")")
        await promoted.stopExpectingCleanExit()
        await old.stopExpectingCleanExit()
    }

    /// With no peer named, a policy that holds or fails writes while the
    /// peer is away would hold or fail every write: refused at the start.
    @Test func servingAloneRefusesAPolicyThatNeedsAPeer() async throws {
        let node = try ReplicationNode("alone")
        let result = try await node.buse(
            ["serve", "--export", "vol=\(node.deviceURI)", "--state", node.statePath, "--degraded", "suspend"])
        #expect(!result.succeeded && result.standardError.contains("needs a peer"), "\(result)")
    }
}
