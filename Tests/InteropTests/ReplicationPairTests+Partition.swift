import Foundation
import TestSupport
import Testing

/// A network partition between primary and replica, through a
/// ``ReplicationProxy`` the test cuts and heals.
extension ReplicationPairTests {
    /// The primary, given a 2 s `--peer-timeout`, stops waiting for a peer
    /// that no longer answers and writes alone in a new generation. Its log
    /// keeps at most `--log-records 16` records (checked every 2 writes)
    /// and folds the rest into its bitmap of 1 MiB regions, so the backlog
    /// stays bounded however long the partition lasts. After the partition
    /// heals, the resync copies only the marked regions and the copies are
    /// equal again. Meanwhile the primary keeps trying to reconnect.
    @Test func aPartitionLongerThanTheLogBoundHealsByResyncingTheMarkedRegions() async throws {
        let a = try ReplicationNode("a"), b = try ReplicationNode("b")
        let replica = try await b.serveAsReplica()
        let proxy = try ReplicationProxy(forwardingTo: replica.port)
        defer { proxy.close() }
        let primary = try await a.serveAsPrimary(
            replicatingTo: proxy.port, options: ["--log-records", "16", "--peer-timeout", "2"])
        let synced = try await a.waitForInSync()

        proxy.partition()
        let written: ScriptReport
        do {
            // The partition lasts until the test heals it below, so these
            // writes returning at all shows the primary stopped waiting for
            // its peer; no upper bound on their time is asserted.
            written = try await Nbdsh.run(Self.scatteredWrites, uri: primary.uri("vol"), in: a.directory)
        } catch {
            throw InteropError("\(error)\nprimary:\n\(primary.log)\nreplica:\n\(replica.log)")
        }
        let firstWrite = Double(written["first write seconds"] ?? "") ?? -1
        #expect(firstWrite >= 1.5, "the first write should wait out the 2 s peer timeout, not \(firstWrite) s")
        let cut = try await a.status()
        #expect(cut.peerState != "in-sync", "\(cut)")
        #expect(cut.writesDegraded == 1000, "each of the 1000 writes was acknowledged without the peer: \(cut)")
        #expect(cut.generation != synced.generation && cut.history.first == synced.generation, "\(cut)")
        #expect(cut.lagOperations <= 16 + 2, "the log keeps 16 records and checks its bound every 16/8 writes: \(cut)")
        #expect(cut.dirtyBytes > 0 && cut.dirtyBytes <= 16 << 20, "the writes touched only the first 16 MiB: \(cut)")
        // The primary keeps trying to reach its peer; the partition refuses it.
        try await waitUntil("the primary tries to reconnect through the partition", timeout: .seconds(120)) {
            proxy.counts.refused >= 1
        }

        proxy.heal()
        try await a.waitForInSync(timeout: .seconds(60))
        try await Self.flush(primary.uri("vol"), in: a.directory)
        let healed = try await a.status()
        #expect(healed.lagOperations == 0 && healed.dirtyBytes == 0, "\(healed)")
        let resynced = Self.resyncedBytes(primary.process.standardError)
        #expect(resynced.last.map { $0 > 0 && $0 <= 16 << 20 } == true, "the resync copies only the marked regions: \(resynced)")
        let difference = try await ImageComparison.difference(a.imagePath, b.imagePath, in: a.directory)
        #expect(difference == nil, "the copies should be equal after the partition heals: \(difference ?? "")")
        await primary.stopExpectingCleanExit()
        await replica.stopExpectingCleanExit()
    }

    /// 1000 writes of 4 KiB at random places in the first 16 MiB, then a flush.
    static let scatteredWrites = """
        import os, random, time
        started = time.monotonic()
        h.pwrite(os.urandom(4096), 0)
        report("first write seconds", round(time.monotonic() - started, 2))
        for _ in range(999):
            h.pwrite(os.urandom(4096), random.randrange(4096) * 4096)
        h.flush()
        report("written", 1000)
        """
}
