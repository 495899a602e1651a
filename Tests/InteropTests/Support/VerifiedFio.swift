import Foundation
import Testing

/// fio's nbd engine (libnbd) writing and verifying an export: random writes
/// of 4K to 64K, 32 in flight on each of 4 connections (one per job, each in
/// its own 64 MiB region), then every block read back and checked against
/// its crc32c. The export must be at least 256 MiB.
enum VerifiedFio {
    static func job(uri: String, name: String) -> String {
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
        [\(name)]
        """
    }

    /// Runs the job against `export` of `server` and records an issue for
    /// anything short of four whole, verified regions on four connections.
    static func run(against server: BuseServer, export: String, name: String, in directory: TemporaryDirectory) async throws {
        let jobFile = directory.file("\(name).fio")
        try job(uri: server.uri(export), name: name).write(toFile: jobFile, atomically: true, encoding: .utf8)
        let output = directory.file("\(name).json")
        let result = try await InteropTests.run(
            "fio", ["--output-format=json", "--output=\(output)", jobFile], in: directory, timeout: .seconds(300))
        #expect(result.exitStatus == 0, "\(result)\n\(server.log)")
        let connections = server.process.standardError.components(separatedBy: "serving export").count - 1
        // One connection per job for the I/O (fio also connects once per job to learn the size).
        #expect(connections >= 4, "each of the 4 jobs should open its own connection:\n\(server.log)")
        // fio may put its "connected to NBD server" lines before the JSON.
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let json = text.firstIndex(of: "{").map { text[$0...] } ?? ""
        let report = try JSONDecoder().decode(FioReport.self, from: Data(json.utf8))
        #expect(report.jobs.count == 4)
        for job in report.jobs {
            #expect(job.error == 0, "fio job failed with error \(job.error)")
            #expect(job.write.ioBytes == 64 << 20, "each job writes its whole 64 MiB region")
            #expect(job.read.ioBytes == 64 << 20, "each job reads back and verifies its whole region")
            #expect(job.write.totalIOs > 1000 && job.read.totalIOs == job.write.totalIOs)
        }
    }
}

/// The parts of fio's JSON output the test checks.
struct FioReport: Decodable {
    struct Direction: Decodable {
        var ioBytes: Int
        var totalIOs: Int
        enum CodingKeys: String, CodingKey { case ioBytes = "io_bytes", totalIOs = "total_ios" }
    }

    struct Job: Decodable {
        var error: Int
        var read: Direction
        var write: Direction
    }

    var jobs: [Job]
}
