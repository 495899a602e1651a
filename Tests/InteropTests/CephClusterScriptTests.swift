import Foundation
import Testing

/// The project's one-node test cluster (scripts/ceph-cluster.sh), which every
/// RADOS test and `make test` itself start, does not depend on the free space
/// of a disk it shares with other tenants.
@Suite struct CephClusterScriptTests {
    /// Ceph's monitor refuses to start (exit 28, nothing logged) when its
    /// data filesystem has `mon_data_avail_crit` whole percent free or less.
    /// A CI run failed that way on a shared disk with under 2% (some GiB)
    /// free; the cluster's mon store is a few MiB, so the script turns the
    /// check off. Here the cluster's directory sits on a 20 GiB ext4 (a
    /// sparse file: what is allocated in it costs the host only metadata)
    /// with 128 MiB free, 0.6%: the cluster starts and does I/O.
    @Test(.timeLimit(.minutes(5)))
    func aClusterStartsOnAFilesystemWithUnderOnePercentFree() async throws {
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let disk = directory.file("disk")
        // No blocks reserved for root, so what statfs calls available is all that is free.
        try await mountScratchExt4(
            size: "20G", image: directory.file("disk.img"), at: disk, mkfsOptions: ["-m", "0"], in: directory,
            cleanup: cleanup)
        let filler = try Self.sizes(of: disk).available - (128 << 20)
        try await runChecked("fallocate", ["-l", String(filler), disk + "/filler"], in: directory)
        let (total, available) = try Self.sizes(of: disk)
        try #require(available * 100 < total, "the filesystem should have under 1% free: \(available) of \(total) bytes")

        let cluster = try await PrivateCluster(in: directory, cleanup: cleanup, parent: disk)
        try await Self.roundTrip(cluster, in: directory)
    }

    /// Stores an object and reads it back; a failure records an issue with
    /// the daemons' log tails.
    static func roundTrip(_ cluster: PrivateCluster, in directory: TemporaryDirectory) async throws {
        let probe = directory.file("probe")
        try Data("written on a nearly full disk".utf8).write(to: URL(fileURLWithPath: probe))
        do {
            try await runChecked("rados", ["--conf", cluster.conf, "-p", "buse", "put", "probe", probe], in: directory)
            try await runChecked("rados", ["--conf", cluster.conf, "-p", "buse", "get", "probe", probe + ".back"], in: directory)
        } catch {
            Issue.record("I/O failed: \(error)\n\(cluster.logTail())")
            return
        }
        #expect(FileManager.default.contentsEqual(atPath: probe, andPath: probe + ".back"))
    }

    static func sizes(of path: String) throws -> (total: UInt64, available: UInt64) {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else {
            throw InteropError("statvfs \(path): \(String(cString: strerror(errno)))")
        }
        return (UInt64(stats.f_blocks) * UInt64(stats.f_frsize), UInt64(stats.f_bavail) * UInt64(stats.f_frsize))
    }
}
