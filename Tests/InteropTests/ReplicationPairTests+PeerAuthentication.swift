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
        try await waitUntil("the replica rejects the corrupted record", timeout: .seconds(120)) {
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

    /// `--peer-certificates`: the replica presents a server certificate and
    /// the primary a client certificate, both signed by the pair's CA; each
    /// verifies the other's. The pair resyncs and replicates over TLS 1.3.
    @Test func peersWithCertificatesOfTheSameCAPairAndReplicate() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let files = try await TLSFiles.certificates(in: a.directory)
        let replica = try await b.serveAsReplica(options: ["--peer-certificates", files.serverDirectory])
        let primary = try await a.serveAsPrimary(
            replicatingTo: replica.port, options: ["--peer-certificates", files.clientDirectory])
        try await a.waitForInSync()
        let data = a.directory.file("data.img")
        try await DiskImage.random(at: data, mebibytes: 64, dataRanges: [0..<4, 30..<40], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", data, primary.uri("vol")], in: a.directory)
        #expect(primary.process.standardError.contains("authenticated by --peer-certificates, (TLS1.3)"), "\(primary.log)")
        #expect(replica.process.standardError.contains("authenticated by --peer-certificates, (TLS1.3)"), "\(replica.log)")
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "the replica's image should equal the primary's: \(difference ?? "")")
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// A primary whose client certificate another CA signed is refused by
    /// the replica, and gets nothing.
    @Test func aReplicaRefusesAPrimaryWhoseCertificateAnotherCASigned() async throws {
        try await Self.expectRefusal(
            primary: { files in ["--peer-certificates", files.untrustedClientDirectory] },
            replica: { files in ["--peer-certificates", files.serverDirectory] },
            primaryLogs: "did not accept this node: it refused this node's certificate",
            replicaLogs: "is not signed by this node's --peer-certificates CA")
    }

    /// A primary with a PSK and a replica with certificates: no common way to authenticate.
    @Test func aPrimaryWithAKeyAndAReplicaWithCertificatesNeverPair() async throws {
        try await Self.expectRefusal(
            primary: { files in ["--peer-psk", try await Self.makePeerKey(in: files.directory, named: "peer.psk")] },
            replica: { files in ["--peer-certificates", files.serverDirectory] },
            primaryLogs: "TLS handshake failed", replicaLogs: "TLS handshake failed")
    }

    /// ``expectRefusal(primaryKey:replicaKey:primaryLogs:replicaLogs:sourceLocation:)``
    /// with each node's options made from the test's certificates.
    static func expectRefusal(
        primary: (PeerFiles) async throws -> [String], replica: (PeerFiles) async throws -> [String],
        primaryLogs: String, replicaLogs: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let scratch = try TemporaryDirectory()
        let files = PeerFiles(certificates: try await TLSFiles.certificates(in: scratch), directory: scratch)
        try await expectRefusal(
            primaryOptions: try await primary(files), replicaOptions: try await replica(files), primaryLogs: primaryLogs,
            replicaLogs: replicaLogs, sourceLocation: sourceLocation)
    }

    /// Certificates from ``TLSFiles`` and where to make more credentials.
    struct PeerFiles {
        let certificates: TLSFiles
        let directory: TemporaryDirectory
        var serverDirectory: String { certificates.serverDirectory }
        var clientDirectory: String { certificates.clientDirectory }
        var untrustedClientDirectory: String { certificates.untrustedClientDirectory }
    }

    /// A primary and a replica with these keys (nil: no `--peer-psk`; the
    /// same name: the same file) never pair: each logs why, the primary
    /// writes alone and its status says refused and why, and the replica's
    /// image and state stay as they were.
    static func expectRefusal(
        primaryKey: String?, replicaKey: String?, primaryLogs: String, replicaLogs: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let keys = try TemporaryDirectory()
        var primaryOptions: [String] = [], replicaOptions: [String] = []
        if let primaryKey { primaryOptions = ["--peer-psk", try await makePeerKey(in: keys, named: primaryKey)] }
        if let replicaKey { replicaOptions = ["--peer-psk", try await makePeerKey(in: keys, named: replicaKey)] }
        try await expectRefusal(
            primaryOptions: primaryOptions, replicaOptions: replicaOptions, primaryLogs: primaryLogs, replicaLogs: replicaLogs,
            sourceLocation: sourceLocation)
    }

    /// A primary and a replica started with these options never pair: each
    /// logs why, the primary writes alone and its status says refused and
    /// why, and the replica's image and state stay as they were.
    static func expectRefusal(
        primaryOptions: [String], replicaOptions: [String], primaryLogs: String, replicaLogs: String,
        sourceLocation: SourceLocation
    ) async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica(options: replicaOptions)
        let before = try await b.imageDigest()
        let primary = try await a.serveAsPrimary(replicatingTo: replica.port, options: primaryOptions)
        let data = a.directory.file("data.img")
        try await DiskImage.random(at: data, mebibytes: 64, dataRanges: [0..<8], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", data, primary.uri("vol")], in: a.directory)
        do {
            try await waitUntil("both nodes log the refusal", timeout: .seconds(120)) {
                primary.process.standardError.contains(primaryLogs) && replica.process.standardError.contains(replicaLogs)
            }
        } catch {
            Issue.record("\(error)\nprimary:\n\(primary.log)\nreplica:\n\(replica.log)", sourceLocation: sourceLocation)
        }
        // The operator sees why on the primary: `buse status` says refused, and the reason.
        let onPrimary = try await a.waitForStatus("the primary's status shows the refusal") {
            $0.peerState == "refused" && $0.refusal != nil
        }
        let onReplica = try await b.status()
        print("refused, as the primary's status shows it: \(onPrimary.refusal ?? "")")
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
