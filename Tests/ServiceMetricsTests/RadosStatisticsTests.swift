import Glibc
import ServiceMetrics
import Testing

@testable import RadosDevice

/// The RADOS figures without a cluster: how a device's counts bucket its
/// latencies and name its errors, and how a scrape renders them. That the
/// device counts its real operations is checked against Ceph in
/// InteropTests' RadosMetricsTests.
@Suite struct RadosStatisticsTests {
    static func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }

    @Test func aLatencyLandsInTheFirstBucketWhoseBoundItDoesNotExceed() {
        let bounds = RadosStatistics.latencyBounds
        #expect(bounds.first == 100_000 && bounds.last == 10_000_000_000)
        #expect(bounds == bounds.sorted())
        #expect(RadosStatistics.bucket(0) == 0)
        #expect(RadosStatistics.bucket(100_000) == 0)
        #expect(RadosStatistics.bucket(100_001) == 1)
        #expect(RadosStatistics.bucket(2_500_000) == 4)
        #expect(RadosStatistics.bucket(10_000_000_000) == bounds.count - 1)
        #expect(RadosStatistics.bucket(10_000_000_001) == bounds.count)
    }

    @Test func failuresAreCountedByErrnoAndTimeoutsByOperation() {
        let statistics = RadosStatistics()
        statistics.record(.write, nanoseconds: 5_000_000_000, status: -ETIMEDOUT)
        statistics.record(.write, nanoseconds: 300_000, status: 0)
        statistics.record(.read, nanoseconds: 5_000_000_000, status: -ETIMEDOUT)
        statistics.record(.trim, nanoseconds: 1_000, status: -EIO)
        statistics.record(.mapUpdate, nanoseconds: 1_000, status: -EHOSTDOWN)
        let snapshot = statistics.snapshot()
        #expect(snapshot.operations[.write]?.timeouts == 1)
        #expect(snapshot.operations[.read]?.timeouts == 1)
        #expect(snapshot.operations[.trim]?.timeouts == 0)
        #expect(snapshot.operations[.write]?.count == 2)
        #expect(snapshot.operations[.write]?.sumNanoseconds == 5_000_300_000)
        #expect(snapshot.operations[.zero]?.count == 0)
        #expect(snapshot.errors["ETIMEDOUT"] == 2)
        #expect(snapshot.errors["EIO"] == 1)
        #expect(snapshot.errors["other"] == 1, "EHOSTDOWN is not one of the named errnos")
        #expect(snapshot.errors["ENOSPC"] == 0)
    }

    @Test func aScrapeShowsHistogramsErrorsTimeoutsAndWriteAround() {
        let statistics = RadosStatistics()
        statistics.record(.read, nanoseconds: 80_000, status: 0)
        statistics.record(.read, nanoseconds: 700_000, status: 0)
        statistics.record(.read, nanoseconds: 20_000_000_000, status: 0)
        statistics.record(.write, nanoseconds: 6_000_000_000, status: -ETIMEDOUT)
        let registry = MetricsRegistry()
        let source = RadosMetrics.Source(export: "vol", statistics: statistics) { (outstanding: 65536, limit: 1 << 20) }
        RadosMetrics.register([source], in: registry)
        let text = String(decoding: registry.exposition(), as: UTF8.self)
        let read = #"buse_rados_operation_duration_seconds_bucket{export="vol",operation="read","#
        let expected: [(String, Double)] = [
            (read + #"le="0.0001"}"#, 1),
            (read + #"le="0.0005"}"#, 1),
            (read + #"le="0.001"}"#, 2),
            (read + #"le="10"}"#, 2),
            (read + #"le="+Inf"}"#, 3),
            (#"buse_rados_operation_duration_seconds_count{export="vol",operation="read"}"#, 3),
            (#"buse_rados_operation_duration_seconds_sum{export="vol",operation="read"}"#, 20.00078),
            (#"buse_rados_operation_duration_seconds_count{export="vol",operation="map_update"}"#, 0),
            (#"buse_rados_operation_timeouts_total{export="vol",operation="write"}"#, 1),
            (#"buse_rados_operation_timeouts_total{export="vol",operation="read"}"#, 0),
            (#"buse_rados_operation_errors_total{export="vol",error="ETIMEDOUT"}"#, 1),
            (#"buse_rados_operation_errors_total{export="vol",error="EIO"}"#, 0),
            (#"buse_rados_write_around_outstanding_bytes{export="vol"}"#, 65536),
            (#"buse_rados_write_around_limit_bytes{export="vol"}"#, 1048576),
        ]
        for (series, value) in expected {
            #expect(Self.sample(text, series) == value, "\(series) in:\n\(text)")
        }
        #expect(Self.sample(text, #"buse_rados_operation_errors_total{export="vol",error="ENOSPC"}"#) == nil, "zero errors stay hidden")
        #expect(text.contains("# TYPE buse_rados_operation_duration_seconds histogram\n"))
    }
}
