import Foundation
import TestSupport
import Testing

/// Whatever arrives on a replica's replication port, from whoever: the
/// replica answers what breaks the protocol or is not its primary with a
/// refusal frame that says why, hangs up on that connection only, keeps
/// serving its real primary, and writes nothing it was sent.
extension ReplicationPairTests {
    @Test func hostileInputOnTheReplicationPortIsRefusedAndChangesNothing() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let volumeSize = ReplicationNode.volumeSize

        // A new replica refuses a primary whose volume has another size, and stays new.
        let wrongSize = try ReplicationWireClient.exchange(
            RawReplicationFrame.hello(volumeID: 0x1234, size: volumeSize / 2, generation: 0x99).bytes, port: replica.port)
        Self.expectRefusal(wrongSize, mentioning: "size", "a hello for a volume of half the size")
        #expect(try await b.status().volumeID == 0, "the refused hello must not give the replica a volume")

        let primary = try await a.serveAsPrimary(replicatingTo: replica.port)
        try await a.waitForInSync()
        let data = a.directory.file("data.img")
        try await DiskImage.random(at: data, mebibytes: 64, dataRanges: [0..<16], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", data, primary.uri("vol")], in: a.directory)
        let paired = try await b.status()
        let digest = try await b.imageDigest()

        var garbage = (0..<RawReplicationFrame.headerLength).map { _ in UInt8.random(in: 0...255) }
        garbage[0] = UInt8(ascii: "G")  // never "BRPL"
        var badMagic = RawReplicationFrame(type: RawReplicationFrame.Kind.hello.rawValue)
        badMagic.magic = 0x5845_5858  // "XEXX"
        let whileConnected: [(what: String, bytes: [UInt8], reason: String)] = [
            ("40 bytes of garbage", garbage, "magic"),
            ("a header with bad magic", badMagic.bytes, "magic"),
            ("a frame of unknown type 99", RawReplicationFrame(type: 99).bytes, "unknown frame type"),
            ("a WRITE before any hello", RawReplicationFrame.write([UInt8](repeating: 0xAB, count: 65536), at: 0).bytes, "expected hello"),
            (
                "a second primary of the same volume",
                RawReplicationFrame.hello(volumeID: paired.volumeID, size: volumeSize, generation: paired.generation).bytes,
                "already replicates"
            ),
        ]
        for hostile in whileConnected {
            let exchange = try ReplicationWireClient.exchange(hostile.bytes, port: replica.port)
            Self.expectRefusal(exchange, mentioning: hostile.reason, hostile.what)
            #expect(replica.isRunning, "the replica died of \(hostile.what):\n\(replica.log)")
        }
        let onPrimary = try await a.status(), onReplica = try await b.status()
        #expect(onPrimary.peerState == "in-sync", "the real primary stays in sync: \(onPrimary)")
        #expect(onReplica.peerState == "in-sync" && onReplica.peer == paired.peer, "\(onReplica)")
        #expect(try await b.imageDigest() == digest, "hostile frames changed the replica's image")

        // The real primary still replicates.
        let more = a.directory.file("more.img")
        try await DiskImage.random(at: more, mebibytes: 64, dataRanges: [0..<1, 32..<40], in: a.directory)
        try await runChecked("nbdcopy", ["--flush", more, primary.uri("vol")], in: a.directory)
        #expect(try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory) == nil)

        // Without a primary: a forged primary of another volume, and a node that is no primary.
        await primary.stopExpectingCleanExit()
        try await b.waitForStatus("has no primary") { $0.peerState == "disconnected" }
        let unpaired = try await b.imageDigest()
        let withoutPrimary: [(what: String, bytes: [UInt8], reason: String)] = [
            (
                "a primary of another volume",
                RawReplicationFrame.hello(volumeID: paired.volumeID ^ 1, size: volumeSize, generation: 0x77).bytes, "another volume"
            ),
            (
                "a hello from a secondary",
                RawReplicationFrame.hello(volumeID: paired.volumeID, size: volumeSize, generation: paired.generation, role: "secondary")
                    .bytes,
                "not a primary"
            ),
        ]
        for hostile in withoutPrimary {
            let exchange = try ReplicationWireClient.exchange(hostile.bytes, port: replica.port)
            Self.expectRefusal(exchange, mentioning: hostile.reason, hostile.what)
            #expect(replica.isRunning, "the replica died of \(hostile.what):\n\(replica.log)")
        }
        let after = try await b.status()
        #expect(after.volumeID == paired.volumeID && after.generation == paired.generation && after.peerState == "disconnected", "\(after)")
        #expect(try await b.imageDigest() == unpaired, "refused greetings changed the replica's image")
        await replica.stopExpectingCleanExit()
    }

    static func expectRefusal(
        _ exchange: HostileExchange, mentioning reason: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(exchange.closedByReplica, "the replica should hang up on \(what): \(exchange)", sourceLocation: sourceLocation)
        #expect(
            exchange.frames.count == 1, "the replica should answer \(what) with one refusal: \(exchange)", sourceLocation: sourceLocation)
        #expect(
            exchange.refusal?.localizedCaseInsensitiveContains(reason) == true,
            "the refusal of \(what) should say \"\(reason)\": \(exchange)", sourceLocation: sourceLocation)
    }
}
