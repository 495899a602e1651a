import Foundation
import Testing

/// Synchronous replication between two real buse processes on loopback: a
/// primary (`buse serve --replicate-to`) and its secondary (`buse replica`),
/// each with its own image file and state folder, driven by real NBD clients
/// and inspected with `buse status`, `buse verify` and cmp(1).
///
/// The tests run one at a time: each starts two or three buse processes and
/// some run a write load, and on two shared cores side by side they would
/// only slow each other into their timeouts.
@Suite(.serialized) struct ReplicationPairTests {
    /// A replica that joins a primary already holding data gets all of it
    /// (a full resync), and from then on every write and every zeroed range
    /// the primary acknowledges; both copies are then byte-for-byte equal
    /// and report the same volume and generation.
    @Test func aFreshReplicaReceivesAFullCopyAndThenEveryWrite() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let port = try freeLoopbackPort()
        let primary = try await a.serveAsPrimary(replicatingTo: port)
        let first = a.directory.file("first.img")
        try await DiskImage.random(at: first, mebibytes: 64, dataRanges: [0..<64], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", first, primary.uri("vol")], in: a.directory)
        let alone = try await a.status()
        #expect(alone.peerState != "in-sync", "no replica runs yet: \(alone)")

        let replica = try await b.serveAsReplica(port: port)
        try await a.waitForInSync()
        #expect(
            primary.process.standardError.contains("resyncing \(ReplicationNode.volumeSize) bytes"),
            "a new replica gets the whole volume:\n\(primary.log)")
        #expect(try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory) == nil, "after the full resync")

        // Live: new data, and holes that nbdcopy writes as zeroes.
        let second = a.directory.file("second.img")
        try await DiskImage.random(at: second, mebibytes: 64, dataRanges: [0..<8, 20..<21, 40..<56], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", second, primary.uri("vol")], in: a.directory)
        #expect(try await ImageComparison.difference(second, a.imagePath, in: a.directory) == nil, "the primary holds what was copied")
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "the replica's image should equal the primary's: \(difference ?? "")")

        let onPrimary = try await a.status(), onReplica = try await b.status()
        #expect(onPrimary.role == "primary" && onReplica.role == "secondary")
        #expect(onPrimary.peerState == "in-sync" && onReplica.peerState == "in-sync", "\(onPrimary)\n\(onReplica)")
        #expect(onPrimary.volumeID == onReplica.volumeID && onPrimary.volumeID != 0, "\(onPrimary)\n\(onReplica)")
        #expect(onPrimary.generation == onReplica.generation, "\(onPrimary)\n\(onReplica)")
        #expect(onPrimary.lagOperations == 0 && onPrimary.dirtyBytes == 0, "after a flush nothing waits for the peer: \(onPrimary)")
        #expect(onPrimary.writesDegraded > 0, "the first copy was written with no peer: \(onPrimary)")
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// Both nodes stopped cleanly (SIGTERM) and started again pair up at the
    /// generation they had, with nothing to resync, and go on replicating.
    @Test func restartingBothNodesCleanlyResumesWithoutAResync() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        var replica = try await b.serveAsReplica()
        var primary = try await a.serveAsPrimary(replicatingTo: replica.port)
        try await a.waitForInSync()
        let data = a.directory.file("data.img")
        try await DiskImage.random(at: data, mebibytes: 64, dataRanges: [4..<12, 30..<31], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", data, primary.uri("vol")], in: a.directory)
        let before = try await a.status()
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()

        replica = try await b.serveAsReplica(port: replica.port)
        primary = try await a.serveAsPrimary(replicatingTo: replica.port)
        let after = try await a.waitForInSync()
        let log = primary.process.standardError
        #expect(log.contains("): incremental"), "a clean restart needs no full resync:\n\(primary.log)")
        let resynced = Self.resyncedBytes(log)
        #expect(resynced == [0], "a clean restart should resync nothing, resynced \(resynced) bytes:\n\(primary.log)")
        #expect(after.generation == before.generation && after.volumeID == before.volumeID, "before: \(before)\nafter: \(after)")
        let onReplica = try await b.status()
        #expect(onReplica.peerState == "in-sync" && onReplica.generation == before.generation, "\(onReplica)")

        let more = a.directory.file("more.img")
        try await DiskImage.random(at: more, mebibytes: 64, dataRanges: [0..<2, 50..<64], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", more, primary.uri("vol")], in: a.directory)
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "writes after the restart should reach the replica: \(difference ?? "")")
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// `buse verify` finds a chunk that differs between the copies (here
    /// changed behind the replica's back), exits 1 and names it; with
    /// `--repair` it copies the primary's chunk over, and the copies are
    /// equal again. (So its "0 differing chunks" elsewhere means something.)
    @Test func verifyFindsAndRepairsAChunkThatDiffers() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port)
        try await a.waitForInSync()
        let data = a.directory.file("data.img")
        try await DiskImage.random(at: data, mebibytes: 64, dataRanges: [0..<64], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", data, primary.uri("vol")], in: a.directory)
        try await runChecked(
            "dd", ["if=/dev/urandom", "of=\(b.imagePath)", "bs=4096", "seek=\(5 * 256 + 3)", "count=1", "conv=notrunc", "status=none"],
            in: b.directory)

        let found = try await a.buse(["verify", "--state", a.statePath], timeout: .seconds(120))
        #expect(found.exitStatus == 1, "verify should exit 1 when the copies differ:\n\(found)")
        #expect(
            found.standardOutput.contains(": 1 differing chunk(s)") && found.standardOutput.contains("differs: 5242880..<6291456"),
            "\(found)")
        let repaired = try await a.buse(["verify", "--state", a.statePath, "--repair"], timeout: .seconds(120))
        #expect(repaired.succeeded && repaired.standardOutput.contains("1 differing chunk(s), repaired"), "\(repaired)")
        let again = try await a.buse(["verify", "--state", a.statePath], timeout: .seconds(120))
        #expect(again.succeeded && again.standardOutput.contains(": 0 differing chunk(s)"), "\(again)")
        #expect(try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory) == nil, "after the repair")
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// The byte counts of every "resyncing N bytes" line a primary logged.
    static func resyncedBytes(_ log: String) -> [UInt64] {
        log.components(separatedBy: "resyncing ").dropFirst().compactMap { UInt64($0.prefix { $0.isNumber }) }
    }

    /// Flushes the export at `uri` through a fresh NBD connection.
    static func flush(_ uri: String, in directory: TemporaryDirectory) async throws {
        _ = try await Nbdsh.run("h.flush()", uri: uri, in: directory)
    }
}
