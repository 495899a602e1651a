import Foundation
import TestSupport
import Testing

/// `--peer-psk`: the replication link is TLS 1.3 under a key both nodes
/// hold (a `psktool` file), authenticated before any frame crosses. A peer
/// with another key, or none, is refused on both sides and gets nothing;
/// a byte changed on the wire fails the record's authentication, resets the
/// link, and the pair resyncs after it reconnects.
extension ReplicationPairTests {
    @Test func peersWithTheSameKeyPairResyncAndReplicateOverTLS() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let key = try await Self.makePeerKey(in: a.directory, named: "peer.psk")
        let port = try freeLoopbackPort()
        let primary = try await a.serveAsPrimary(replicatingTo: port, options: ["--peer-psk", key])
        let first = a.directory.file("first.img")
        try await DiskImage.random(at: first, mebibytes: 64, dataRanges: [0..<32], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", first, primary.uri("vol")], in: a.directory)

        let replica = try await b.serveAsReplica(port: port, options: ["--peer-psk", key])
        try await a.waitForInSync()
        #expect(primary.process.standardError.contains("resyncing"), "the replica is resynced over TLS:\n\(primary.log)")
        #expect(primary.process.standardError.contains("authenticated by --peer-psk, (TLS1.3)"), "\(primary.log)")
        #expect(replica.process.standardError.contains("authenticated by --peer-psk, (TLS1.3)"), "\(replica.log)")

        let second = a.directory.file("second.img")
        try await DiskImage.random(at: second, mebibytes: 64, dataRanges: [0..<4, 20..<21, 40..<56], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", second, primary.uri("vol")], in: a.directory)
        #expect(try await ImageComparison.difference(second, a.imagePath, in: a.directory) == nil)
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "the replica's image should equal the primary's: \(difference ?? "")")
        let onPrimary = try await a.status(), onReplica = try await b.status()
        #expect(onPrimary.peerState == "in-sync" && onReplica.peerState == "in-sync", "\(onPrimary)\n\(onReplica)")
        #expect(onPrimary.generation == onReplica.generation && onPrimary.volumeID == onReplica.volumeID)
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    @Test func aReplicaWithAnotherKeyRefusesThePrimaryAndGetsNothing() async throws {
        try await Self.expectRefusal(
            primaryKey: "one.psk", replicaKey: "other.psk",
            primaryLogs: "TLS handshake failed", replicaLogs: "TLS handshake failed")
    }

    @Test func aKeyedReplicaRefusesAPrimaryWithoutAKey() async throws {
        try await Self.expectRefusal(
            primaryKey: nil, replicaKey: "peer.psk",
            primaryLogs: "requires TLS with --peer-psk", replicaLogs: "the connecting node has no --peer-psk")
    }

    @Test func aReplicaWithoutAKeyRefusesAPrimaryWithOne() async throws {
        try await Self.expectRefusal(
            primaryKey: "peer.psk", replicaKey: nil,
            primaryLogs: "TLS handshake failed", replicaLogs: "the peer speaks TLS")
    }

    /// A man in the middle flips one byte of the TLS stream: the replica's
    /// record fails to authenticate, the link is reset, and after the
    /// primary reconnects and resyncs the copies are equal (no write lost,
    /// none applied twice).
    @Test func aByteFlippedOnTheWireResetsTheLinkAndThePairResyncs() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let key = try await Self.makePeerKey(in: a.directory, named: "peer.psk")
        let replica = try await b.serveAsReplica(options: ["--peer-psk", key])
        let proxy = try ReplicationProxy(forwardingTo: replica.port)
        defer { proxy.close() }
        let primary = try await a.serveAsPrimary(replicatingTo: proxy.port, options: ["--peer-psk", key])
        try await a.waitForInSync()
        let first = a.directory.file("first.img")
        try await DiskImage.random(at: first, mebibytes: 64, dataRanges: [0..<16], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", first, primary.uri("vol")], in: a.directory)

        proxy.corruptNextChunk()
        let second = a.directory.file("second.img")
        try await DiskImage.random(at: second, mebibytes: 64, dataRanges: [0..<64], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", second, primary.uri("vol")], in: a.directory)
        #expect(proxy.corrupted == 1, "the proxy flipped a byte")
        try await waitUntil("the replica rejects the corrupted record", timeout: .seconds(30)) {
            replica.process.standardError.contains("TLS receive")
        }
        try await waitUntil("the primary reconnects", timeout: .seconds(60)) { proxy.counts.accepted >= 2 }
        try await a.waitForInSync(timeout: .seconds(60))
        try await Self.flush(primary.uri("vol"), in: a.directory)
        #expect(try await ImageComparison.difference(second, a.imagePath, in: a.directory) == nil, "the primary holds every write")
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "the copies should be equal after the reconnection: \(difference ?? "")\n\(replica.log)")
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// A primary and a replica with these keys (nil: no `--peer-psk`; the
    /// same name: the same file) never pair: each logs why, the primary
    /// writes alone, and the replica's image and state stay as they were.
    static func expectRefusal(
        primaryKey: String?, replicaKey: String?, primaryLogs: String, replicaLogs: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        var primaryOptions: [String] = [], replicaOptions: [String] = []
        if let primaryKey { primaryOptions = ["--peer-psk", try await makePeerKey(in: a.directory, named: primaryKey)] }
        if let replicaKey { replicaOptions = ["--peer-psk", try await makePeerKey(in: a.directory, named: replicaKey)] }
        let replica = try await b.serveAsReplica(options: replicaOptions)
        let before = try await b.imageDigest()
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: primaryOptions)
        let data = a.directory.file("data.img")
        try await DiskImage.random(at: data, mebibytes: 64, dataRanges: [0..<8], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", data, primary.uri("vol")], in: a.directory)
        do {
            try await waitUntil("both nodes log the refusal", timeout: .seconds(30)) {
                primary.process.standardError.contains(primaryLogs) && replica.process.standardError.contains(replicaLogs)
            }
        } catch {
            Issue.record("\(error)\nprimary:\n\(primary.log)\nreplica:\n\(replica.log)", sourceLocation: sourceLocation)
        }
        let onPrimary = try await a.status(), onReplica = try await b.status()
        #expect(onPrimary.peerState != "in-sync", "\(onPrimary)", sourceLocation: sourceLocation)
        #expect(onReplica.volumeID == 0 && onReplica.peer == nil, "the replica paired: \(onReplica)", sourceLocation: sourceLocation)
        #expect(try await b.imageDigest() == before, "the refused primary changed the replica's image", sourceLocation: sourceLocation)
        await primary.stopExpectingCleanExit(sourceLocation: sourceLocation)
        await replica.stopExpectingCleanExit(sourceLocation: sourceLocation)
    }

    /// A fresh `psktool` key file for user buse (the same name, the same file).
    static func makePeerKey(in directory: TemporaryDirectory, named name: String) async throws -> String {
        let path = directory.file(name)
        if FileManager.default.fileExists(atPath: path) { return path }
        try await runChecked("psktool", ["-u", "buse", "-p", path], in: directory)
        return path
    }
}
