import Foundation
import RadosDevice
import Testing

/// Reaching a cluster can fail before any image is opened: no config where
/// it was said to be, or monitors nobody answers on. Both are an operator's
/// everyday mistakes, so both must be a typed error naming the cause, and
/// the process must go on (these ran into a double `rados_shutdown` and a
/// segmentation fault before). No cluster is needed.
@Suite("Connecting to a Ceph cluster that is not there")
struct RadosConnectionErrorTests {
    @Test func aMissingConfigFileIsAnErrorThatNamesIt() {
        var settings = RadosCluster.Settings()
        settings.configFile = "/nonexistent/buse-test/ceph.conf"
        #expect {
            _ = try RadosCluster(settings)
        } throws: { error in
            "\(error)".contains("/nonexistent/buse-test/ceph.conf")
        }
    }

    @Test func monitorsNobodyAnswersOnFailAfterTheTimeout() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("buse-no-cluster-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("ceph.conf")
        // Port 1 on loopback: nothing listens, so every attempt is refused.
        try "[global]\nmon_host = 127.0.0.1:1\nauth_client_required = none\n".write(to: config, atomically: true, encoding: .utf8)
        var settings = RadosCluster.Settings()
        settings.configFile = config.path
        settings.operationTimeout = 2
        #expect {
            _ = try RadosCluster(settings)
        } throws: { error in
            "\(error)".contains("connect to the Ceph cluster")
        }
    }
}
