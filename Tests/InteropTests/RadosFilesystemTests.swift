import Foundation
import Testing

/// ext4 on a RADOS image: nbdfuse shows the export as a file, a loop device
/// makes it a block device, mkfs.ext4 (which discards the whole device
/// first) makes the filesystem, files are written, and after unmounting
/// e2fsck finds it clean and a remount finds the files unchanged. Needs
/// root, /dev/fuse and loop devices; without them the test fails and says which.
@Suite struct RadosFilesystemTests {
    @Test func ext4OnARadosImageSurvivesUnmountFsckAndRemount() async throws {
        try FilesystemHost.checkPrerequisites()
        let conf = try SharedCluster.conf()
        let directory = try TemporaryDirectory()
        let cleanup = Cleanup()
        defer { cleanup.runRemaining() }
        let image = try await RadosTestImage(size: "256M", conf: conf, cleanup: cleanup, in: directory)
        let server = try await BuseServer(exports: ["disk=\(image.uri())"], in: directory)

        // nbdfuse serves the export as one file, in the foreground, until unmounted.
        let fuseFile = directory.file("export.raw")
        guard FileManager.default.createFile(atPath: fuseFile, contents: nil) else {
            throw InteropError("cannot create \(fuseFile)")
        }
        let nbdfuse = try ChildProcess(
            try Tool.path("nbdfuse"), [fuseFile, server.uri("disk")], outputPrefix: directory.unique("nbdfuse"),
            currentDirectory: directory.path)
        let unfuse = cleanup.add([try Tool.path("fusermount3"), "-u", "-z", fuseFile])
        try await waitUntil("nbdfuse mounts \(fuseFile)", timeout: .seconds(30)) {
            if let ended = nbdfuse.termination {
                throw InteropError("nbdfuse \(ended):\n\(nbdfuse.standardErrorTail())")
            }
            return try FilesystemHost.mountPoints().contains(fuseFile)
        }
        let attach = try await runChecked("losetup", ["--find", "--show", fuseFile], in: directory)
        let loop = attach.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let detach = cleanup.add([try Tool.path("losetup"), "-d", loop])
        try await runChecked("mkfs.ext4", ["-q", "-F", loop], in: directory, timeout: .seconds(120))

        let mountPoint = directory.file("mnt")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        try await runChecked("mount", [loop, mountPoint], in: directory)
        let unmount = cleanup.add([try Tool.path("umount"), "-l", mountPoint])
        let files = ["small": 1, "medium": 5, "nested/large": 24]  // MiB of random data each
        try FileManager.default.createDirectory(atPath: mountPoint + "/nested", withIntermediateDirectories: false)
        var written: [String: String] = [:]
        for (name, mebibytes) in files {
            let path = mountPoint + "/" + name
            try await runChecked(
                "dd", ["if=/dev/urandom", "of=\(path)", "bs=1M", "count=\(mebibytes)", "status=none"], in: directory)
            written[name] = try await DiskImage.sha256(path, in: directory)
        }
        try await runChecked("sync", [], in: directory, timeout: .seconds(120))
        try await runChecked("umount", [mountPoint], in: directory, timeout: .seconds(120))
        cleanup.done(unmount)

        let check = try await run("e2fsck", ["-f", "-n", loop], in: directory, timeout: .seconds(120))
        #expect(check.exitStatus == 0, "e2fsck should find the filesystem clean:\n\(check)")

        try await runChecked("mount", [loop, mountPoint], in: directory)
        let remount = cleanup.add([try Tool.path("umount"), "-l", mountPoint])
        for (name, hash) in written.sorted(by: { $0.key < $1.key }) {
            let again = try await DiskImage.sha256(mountPoint + "/" + name, in: directory)
            #expect(again == hash, "\(name) changed across unmount and remount")
        }
        try await runChecked("umount", [mountPoint], in: directory, timeout: .seconds(120))
        cleanup.done(remount)
        try await runChecked("losetup", ["-d", loop], in: directory)
        cleanup.done(detach)
        try await runChecked("fusermount3", ["-u", fuseFile], in: directory)
        cleanup.done(unfuse)
        let fuseEnded = await nbdfuse.waitForTermination(timeout: .seconds(30))
        #expect(
            fuseEnded == .exit(0), "nbdfuse should exit 0 once unmounted: \(fuseEnded?.description ?? "still running")")
        await server.stopExpectingCleanExit()
        try await image.remove(in: directory)
    }
}
