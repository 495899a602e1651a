import Foundation
import Testing

/// fio's nbd engine (libnbd) on a RADOS export: random writes of 4K to 64K,
/// 32 in flight on each of 4 connections (one per job, each in its own
/// 64 MiB region), then every block read back and checked against its
/// crc32c. The image has 64 KiB objects, so most requests span two objects
/// and are split into parallel RADOS operations.
@Suite struct RadosFioTests {
    static func job(uri: String) -> String {
        """
        [global]
        ioengine=nbd
        uri=\(uri)
        rw=randwrite
        bsrange=4k-64k
        iodepth=32
        numjobs=4
        size=64m
        offset_increment=64m
        verify=crc32c
        do_verify=1
        verify_fatal=1
        verify_state_save=0
        [rados-random-writes-verified]
        """
    }

    @Test func fioRandomWritesOverFourConnectionsToARadosImageVerifyWithCrc32c() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(
            size: "256M", objectSize: "64K", conf: conf, cleanup: cleanup, in: directory)
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)
        let jobFile = directory.file("random-writes.fio")
        try Self.job(uri: server.uri("disk")).write(toFile: jobFile, atomically: true, encoding: .utf8)
        let output = directory.file("fio.json")
        let result = try await run(
            "fio", ["--output-format=json", "--output=\(output)", jobFile], in: directory, timeout: .seconds(180))
        #expect(result.exitStatus == 0, "\(result)\n\(server.log)")
        let connections = server.process.standardError.components(separatedBy: "serving export").count - 1
        #expect(connections >= 4, "each of the 4 jobs should open its own connection:\n\(server.log)")
        // fio may put its "connected to NBD server" lines before the JSON.
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let json = text.firstIndex(of: "{").map { text[$0...] } ?? ""
        let report = try JSONDecoder().decode(Report.self, from: Data(json.utf8))
        #expect(report.jobs.count == 4)
        for job in report.jobs {
            #expect(job.error == 0, "fio job failed with error \(job.error)")
            #expect(job.write.ioBytes == 64 << 20, "each job writes its whole 64 MiB region")
            #expect(job.read.ioBytes == 64 << 20, "each job reads back and verifies its whole region")
            #expect(job.write.totalIOs > 1000 && job.read.totalIOs == job.write.totalIOs)
        }
        await server.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }

    /// The parts of fio's JSON output the test checks.
    struct Report: Decodable {
        struct Direction: Decodable {
            var ioBytes: Int
            var totalIOs: Int
            enum CodingKeys: String, CodingKey {
                case ioBytes = "io_bytes"
                case totalIOs = "total_ios"
            }
        }

        struct Job: Decodable {
            var error: Int
            var read: Direction
            var write: Direction
        }

        var jobs: [Job]
    }
}
