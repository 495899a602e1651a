import Foundation
import Testing

/// `buse image create|ls|info|resize|rm` on the shared cluster, checked
/// through what they print and through the objects `rados ls` sees.
@Suite struct RadosImageCommandTests {
    /// No cluster needed: a config file that is not there is the operator's
    /// mistake, answered with exit status 1 and the path, never a crash
    /// (librados' handle was shut down twice, and the process died of SIGSEGV).
    @Test func aMissingConfigFileIsAClearErrorNotACrash() async throws {
        let directory = try TemporaryDirectory()
        let missing = directory.path + "/absent/ceph.conf"
        for arguments in [
            ["image", "info", "rbd/none", "--conf", missing],
            ["serve", "--export", "v=rados:rbd/none?conf=\(missing)", "--listen", "127.0.0.1:0"],
        ] {
            let result = try await run(try Tool.buse(), arguments, in: directory)
            #expect(result.exitStatus == 1, "\(arguments): \(result)")
            #expect(result.standardError.contains("read Ceph config \(missing)"), "\(arguments): \(result)")
        }
    }

    @Test func imageCommandsCreateListResizeAndRemoveEveryObject() async throws {
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(size: "64M", objectSize: "1M", conf: conf, cleanup: cleanup, in: directory)
        let again = try await run(
            try Tool.buse(), ["image", "create", image.spec, "--size", "1G", "--conf", conf], in: directory)
        #expect(again.exitStatus != 0 && again.standardError.contains("already exists"), "\(again)")
        let list = try await runChecked(
            try Tool.buse(), ["image", "ls", SharedCluster.pool, "--conf", conf], in: directory)
        #expect(list.standardOutput.split(separator: "\n").contains(Substring(image.name)), "\(list)")
        let created = try await image.command("info", in: directory)
        #expect(created.standardOutput.contains("size: 67108864 (64 MiB)"), "\(created)")
        #expect(created.standardOutput.contains("object size: 1048576 (1 MiB)"), "\(created)")
        #expect(created.standardOutput.contains("objects: 64, of which 0 may hold data"), "\(created)")

        // Data in the first and the last object.
        try await write(image, in: directory)
        let written = try await image.command("info", in: directory)
        #expect(written.standardOutput.contains("objects: 64, of which 2 may hold data"), "\(written)")
        let first = "buse_data.\(image.name).0000000000000000"
        let last = "buse_data.\(image.name).000000000000003f"
        let objects = try await SharedCluster.objects(conf: conf, in: directory)
        #expect(objects.contains(first) && objects.contains(last), "\(objects.filter { $0.contains(image.name) })")

        let grown = try await image.command("resize", ["--size", "128M"], in: directory)
        #expect(grown.succeeded, "\(grown)")
        #expect(try await image.command("info", in: directory).standardOutput.contains("size: 134217728 (128 MiB)"))

        let refused = try await image.command("resize", ["--size", "32M"], in: directory)
        #expect(refused.exitStatus != 0, "shrinking without --allow-shrink should be refused:\n\(refused)")
        #expect(refused.standardError.contains("--allow-shrink"), "the refusal should name the flag:\n\(refused)")
        #expect(try await image.command("info", in: directory).standardOutput.contains("size: 134217728 (128 MiB)"))

        let shrunk = try await image.command("resize", ["--size", "32M", "--allow-shrink"], in: directory)
        #expect(shrunk.succeeded, "\(shrunk)")
        let small = try await image.command("info", in: directory)
        #expect(small.standardOutput.contains("size: 33554432 (32 MiB)"), "\(small)")
        #expect(small.standardOutput.contains("objects: 32, of which 1 may hold data"), "\(small)")
        let afterShrink = try await SharedCluster.objects(conf: conf, in: directory)
        #expect(afterShrink.contains(first) && !afterShrink.contains(last), "the shrink should remove the last object")
        try await readBack(image, in: directory)

        try await image.remove(in: directory)
        let gone = try await runChecked(
            try Tool.buse(), ["image", "ls", SharedCluster.pool, "--conf", conf], in: directory)
        #expect(!gone.standardOutput.contains(image.name), "\(gone)")
        let left = try await SharedCluster.objects(conf: conf, in: directory).filter { $0.contains(image.name) }
        #expect(left.isEmpty, "buse image rm should remove every object of the image, but left \(left)")
        let info = try await image.command("info", in: directory)
        #expect(info.exitStatus != 0 && info.standardError.contains("does not exist"), "\(info)")
    }

    /// Writes 4 KiB at the start and the end of the image through buse.
    func write(_ image: RadosTestImage, in directory: TemporaryDirectory) async throws {
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)
        let report = try await Nbdsh.run(
            #"""
            step("first", lambda: h.pwrite(b"\xa1" * 4096, 0))
            step("last", lambda: h.pwrite(b"\xa2" * 4096, h.get_size() - 4096))
            """#, uri: server.uri("disk"), in: directory)
        #expect(report["first"] == "ok" && report["last"] == "ok", "\(report)")
        await server.stopExpectingCleanExit()
    }

    /// The shrunk image serves at its new size, its first object intact.
    func readBack(_ image: RadosTestImage, in directory: TemporaryDirectory) async throws {
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)
        let report = try await Nbdsh.run(
            #"""
            report("size", h.get_size())
            report("first", h.pread(4096, 0) == b"\xa1" * 4096)
            """#, uri: server.uri("disk"), in: directory)
        #expect(report["size"] == "33554432" && report["first"] == "True", "\(report)")
        await server.stopExpectingCleanExit()
    }
}
