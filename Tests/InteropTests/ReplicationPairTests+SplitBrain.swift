import Foundation
import Testing

extension ReplicationPairTests {
    /// Both nodes written independently (the replica promoted while the
    /// primary kept serving alone) refuse to resync, and say so; after
    /// `buse discard-my-data` on the side to lose, it takes a full copy.
    @Test func aSplitBrainIsRefusedUntilOneSideDiscardsItsChanges() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: ["--peer-timeout", "2"])
        try await a.waitForInSync()

        // The replica is stopped and promoted by mistake, and written; the
        // old primary goes on writing alone too.
        await replica.stopExpectingCleanExit()
        let promotion = try await b.buse(["promote", "--state", b.statePath])
        #expect(promotion.succeeded, "\(promotion)")
        let alone = a.directory.file("alone.img")
        try await DiskImage.random(at: alone, mebibytes: 2, dataRanges: [0..<2], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", alone, primary.uri("vol")], in: a.directory)
        await primary.stopExpectingCleanExit()
        let rejoinPort = try freeLoopbackPort()
        let promoted = try await b.serveAsPrimary(replicatingTo: rejoinPort)
        try await runChecked("nbdcopy", ["--flush", alone, promoted.uri("vol")], in: b.directory)

        // The old primary comes back as a replica: split brain, refused.
        let before = try await a.imageDigest()
        let old = try await a.serveAsReplica(port: rejoinPort)
        let refused = try await b.waitForStatus("refuses the split brain") { $0.peerState == "refused" }
        #expect(refused.refusal?.contains("split brain") == true && refused.refusal?.contains("discard-my-data") == true, "\(refused)")
        #expect(try await a.imageDigest() == before, "a refused pairing must write nothing")
        await old.stopExpectingCleanExit()

        // The operator gives up the old primary's changes: a full copy follows.
        let discarded = try await a.buse(["discard-my-data", "--state", a.statePath])
        #expect(discarded.succeeded, "\(discarded)")
        let fresh = try await a.serveAsReplica(port: rejoinPort)
        try await b.waitForInSync(timeout: .seconds(90))
        #expect(promoted.process.standardError.contains("): full"), "after discarding, the copy is full:\n\(promoted.log)")
        try await Self.flush(promoted.uri("vol"), in: b.directory)
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: b.directory)
        #expect(difference == nil, "\(difference ?? "")")
        await promoted.stopExpectingCleanExit()
        await fresh.stopExpectingCleanExit()
    }

    /// `--resync-rate` caps the copy: a 64 MiB full resync at 16 MiB/s is
    /// seen part-way done, with progress in `buse status`.
    @Test func theResyncRateIsCappedAndItsProgressShown() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: ["--resync-rate", "16M"])
        let partway = try await a.waitForStatus("is part-way through its resync", timeout: .seconds(120)) {
            $0.peerState == "resyncing" && $0.resyncDone > 0 && $0.resyncDone < $0.resyncTotal
        }
        #expect(partway.resyncTotal == UInt64(ReplicationNode.volumeSize), "\(partway)")
        let text = try await a.buse(["status", "--state", a.statePath])
        #expect(text.standardOutput.contains("resync:") && text.standardOutput.contains("%"), "\(text)")
        try await a.waitForInSync(timeout: .seconds(60))
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }
}
