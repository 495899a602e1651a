import BlockDevices
import Foundation
import RadosDevice

/// The Ceph cluster the RADOS tests run against: the one-node cluster that
/// `make test` starts with scripts/ceph-cluster.sh, found through
/// $CEPH_CONF. Without it the RADOS tests fail (they never skip): run them
/// through `make test`, or start the cluster and export CEPH_CONF first.
enum TestCluster {
    static let poolName = ProcessInfo.processInfo.environment["BUSE_TEST_POOL"] ?? "buse"

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "no Ceph cluster: CEPH_CONF is not set. Run `make test`, or `scripts/ceph-cluster.sh start /tmp/buse-ceph` and export CEPH_CONF"
        }
    }

    static func pool(options: [String: String] = [:]) throws -> RadosPool {
        guard let conf = ProcessInfo.processInfo.environment["CEPH_CONF"] else { throw Missing() }
        var settings = RadosCluster.Settings()
        settings.configFile = conf
        settings.options = options
        settings.operationTimeout = 30
        return try RadosCluster(settings).pool(poolName)
    }

    static func uniqueName(_ prefix: String = "test") -> String { "\(prefix)-\(UUID().uuidString.prefix(13))" }

    /// A new image opened for writing.
    static func freshImage(
        size: UInt64, objectSize: UInt64 = ImageLayout.defaultObjectSize, writeAroundBytes: Int = 0
    ) throws -> RadosBlockDevice {
        let pool = try pool()
        let name = uniqueName()
        try RadosImage.create(pool, name, size: size, objectSize: objectSize)
        return try RadosBlockDevice(pool: pool, image: name, readOnly: false, writeAroundBytes: writeAroundBytes)
    }
}
