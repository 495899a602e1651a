import Foundation
import TestSupport
import Testing

/// `kill -9` of either node in the middle of a four-connection random write
/// load (``NumberedWriteLoad``) loses no acknowledged write, and the pair
/// comes back to two equal copies: over a plain link and over one
/// authenticated and encrypted with `--peer-psk` (whose records and
/// handshakes a crash cuts in the middle too).
extension ReplicationPairTests {
    /// How the two nodes' link is secured in a crash test.
    enum LinkSecurity: String, CaseIterable, CustomTestStringConvertible {
        case plain
        case peerPSK = "--peer-psk"

        var testDescription: String { rawValue }

        /// The options both nodes get: the same key file for the pair.
        func options(for node: ReplicationNode) async throws -> [String] {
            switch self {
            case .plain: []
            case .peerPSK: ["--peer-psk", try await ReplicationPairTests.makePeerKey(in: node.directory, named: "peer.psk")]
            }
        }
    }

    /// The primary carries on alone when its replica dies (the default
    /// policy, `continue`), in a new generation; the restarted replica is
    /// resynced while the load goes on, and in the end both images are
    /// equal and hold every acknowledged write.
    @Test(arguments: LinkSecurity.allCases)
    func killingTheReplicaUnderLoadLosesNoAcknowledgedWrite(link: LinkSecurity) async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let secured = try await link.options(for: a)
        let replica = try await b.serveAsReplica(options: secured)
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: secured)
        try await a.waitForInSync()
        let load = try NumberedWriteLoad(uri: primary.uri("vol"), in: a.directory)
        try await load.waitForAcknowledged(2000)
        let synced = try await a.status()

        #expect(await replica.kill() == .signal(SIGKILL))
        try await load.waitForAcknowledged(1000, after: load.acknowledgedCount)
        let alone = try await a.waitForStatus("writes without its peer") { $0.peerState != "in-sync" && $0.writesDegraded > 0 }
        #expect(alone.generation != synced.generation, "writing without the peer starts a new generation: \(alone)")
        #expect(alone.history.first == synced.generation, "the old generation goes into the history: \(alone)")

        let restarted = try await b.serveAsReplica(port: replica.port, options: secured)
        try await a.waitForInSync()
        try await load.waitForAcknowledged(1000, after: load.acknowledgedCount)
        let reports = try await load.stop()
        for report in reports {
            #expect(report["ended by"] == "stop file" && report["flushed"] == "yes", "a writer failed (seed \(load.seed)): \(report)")
        }

        let onPrimary = try await a.status(), onReplica = try await b.status()
        #expect(onPrimary.peerState == "in-sync" && onReplica.peerState == "in-sync", "\(onPrimary)\n\(onReplica)")
        #expect(onPrimary.generation == onReplica.generation, "\(onPrimary)\n\(onReplica)")
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "the images should be equal after the resync and a flush: \(difference ?? "")")
        let check = try await load.verify(b.imagePath)
        #expect(Int(check["acknowledged writes"] ?? "") ?? 0 >= 4000, "\(check)")
        #expect(check["lost"] == "0", "the replica lost acknowledged writes (seed \(load.seed)):\n\(check)")
        #expect(check["torn"] == "0", "the replica holds blocks never written whole (seed \(load.seed)):\n\(check)")
        await primary.stopExpectingCleanExit()
        await restarted.stopExpectingCleanExit()
    }

    /// Failover: the primary dies; its replica, stopped and promoted, serves
    /// every write the primary acknowledged. The old primary's node then
    /// rejoins as the new primary's replica, is resynced incrementally (it
    /// gets what it missed, and loses what it alone held), and the two
    /// copies verify equal.
    @Test(arguments: LinkSecurity.allCases)
    func killingThePrimaryThenPromotingTheReplicaLosesNoAcknowledgedWrite(link: LinkSecurity) async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let secured = try await link.options(for: a)
        let replica = try await b.serveAsReplica(options: secured)
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: secured)
        let synced = try await a.waitForInSync()
        let load = try NumberedWriteLoad(uri: primary.uri("vol"), in: a.directory)
        try await load.waitForAcknowledged(3000)

        primary.process.send(SIGKILL)
        #expect(await primary.process.waitForTermination(timeout: .seconds(120)) == .signal(SIGKILL))
        for report in try await load.finish() {
            #expect(report["ended by"]?.hasPrefix("error") == true, "a writer should see the primary die: \(report)")
        }
        try await b.waitForStatus("notices its primary is gone") { $0.peerState == "disconnected" }
        let refused = try await b.buse(["promote", "--state", b.statePath])
        #expect(!refused.succeeded && refused.standardError.contains("in use"), "promote must refuse a running replica:\n\(refused)")
        await replica.stopExpectingCleanExit()
        let promotion = try await b.buse(["promote", "--state", b.statePath])
        #expect(promotion.succeeded && promotion.standardOutput.contains("promoted"), "\(promotion)")

        let rejoinPort = try freeLoopbackPort()
        let promoted = try await b.serveAsPrimary(replicatingTo: rejoinPort, options: secured)
        let check = try await load.verify(promoted.uri("vol"))
        #expect(Int(check["acknowledged writes"] ?? "") ?? 0 >= 3000, "\(check)")
        #expect(check["lost"] == "0", "the promoted copy lost acknowledged writes (seed \(load.seed)):\n\(check)")
        #expect(check["torn"] == "0", "the promoted copy holds blocks never written whole (seed \(load.seed)):\n\(check)")
        let takenOver = try await b.status()
        #expect(takenOver.role == "primary" && takenOver.volumeID == synced.volumeID, "\(takenOver)")
        #expect(takenOver.generation != synced.generation && takenOver.history.contains(synced.generation), "\(takenOver)")

        // The new primary writes alone for a while, then the old one rejoins.
        let alone = b.directory.file("alone.img")
        try await DiskImage.random(at: alone, mebibytes: 4, dataRanges: [0..<4], in: b.directory)
        try await runChecked("nbdcopy", ["--flush", alone, promoted.uri("vol")], in: b.directory)
        let rejoined = try await a.serveAsReplica(port: rejoinPort, options: secured)
        try await b.waitForInSync()
        #expect(promoted.process.standardError.contains("): incremental"), "the old primary rejoins incrementally:\n\(promoted.log)")
        let verify = try await b.buse(["verify", "--state", b.statePath], timeout: .seconds(120))
        #expect(verify.succeeded && verify.standardOutput.contains(": 0 differing chunk(s)"), "\(verify)")
        try await Self.flush(promoted.uri("vol"), in: b.directory)
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: b.directory)
        #expect(difference == nil, "the rejoined copy should equal the promoted one: \(difference ?? "")")
        let onRejoined = try await a.status(), onPromoted = try await b.status()
        #expect(onRejoined.role == "secondary" && onRejoined.peerState == "in-sync", "\(onRejoined)")
        #expect(onRejoined.generation == onPromoted.generation, "\(onRejoined)\n\(onPromoted)")
        await promoted.stopExpectingCleanExit()
        await rejoined.stopExpectingCleanExit()
    }
}
