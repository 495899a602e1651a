import Foundation
import TestSupport
import Testing

/// librados is opened when a process first connects to a Ceph cluster, not
/// linked: linked, it brought libceph-common and a dozen libraries more
/// (about 9 MiB resident) into every buse process, whatever it served. And a
/// host without librados runs everything but `rados:` devices. No cluster is
/// needed: neither test gets as far as one.
@Suite("librados is loaded only for RADOS devices")
struct LibradosLoadingTests {
    @Test func aServerWithoutRadosExportsMapsNoCephLibrary() async throws {
        let directory = try TemporaryDirectory()
        try Data(count: 1 << 20).write(to: URL(fileURLWithPath: directory.file("disk.img")))
        let server = try await BuseServer(exports: ["disk=file:\(directory.file("disk.img"))"], in: directory)
        let maps = try readProcFile("/proc/\(server.process.processIdentifier)/maps")
        let ceph = Set(
            maps.split(separator: "\n").compactMap { $0.split(separator: " ").last }
                .filter { $0.contains("librados") || $0.contains("libceph-common") })
        #expect(ceph.isEmpty, "a file export mapped \(ceph.sorted())")
        await server.stopExpectingCleanExit()
    }

    /// The dynamic linker finds an empty file named librados.so.2 first: the
    /// state of a host whose librados is missing or broken.
    @Test func withoutAUsableLibradosOnlyRadosDevicesAreRefusedAndTheErrorNamesThePackage() async throws {
        let directory = try TemporaryDirectory()
        let libraries = directory.file("broken-librados")
        try FileManager.default.createDirectory(atPath: libraries, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: libraries + "/librados.so.2"))
        let environment = ["LD_LIBRARY_PATH": libraries]

        let server = try await BuseServer(exports: ["disk=memory:1M"], in: directory, environment: environment)
        try await runChecked("nbdinfo", ["--size", server.uri("disk")], in: directory)
        await server.stopExpectingCleanExit()

        for arguments in [
            ["serve", "--export", "vol=rados:buse/librados-test", "--unix", directory.file("rados.sock")],
            ["image", "ls", "buse"],
        ] {
            let refused = try await run(try Tool.buse(), arguments, in: directory, environment: environment)
            #expect(refused.termination == .exit(1), "\(refused)")
            #expect(refused.standardError.contains("need librados"), "\(refused)")
            #expect(refused.standardError.contains("librados2"), "\(refused)")
        }
    }
}
