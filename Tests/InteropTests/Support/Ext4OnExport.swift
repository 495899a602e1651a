import Foundation
import TestSupport
import Testing

/// A real filesystem on an export, as users make one: nbdfuse shows the
/// export as a file, a loop device makes it a block device, and ext4 lives
/// on it. Shared by the file and RADOS filesystem tests.
enum Ext4OnExport {
    /// mkfs.ext4 (``MountedExport``), writes `files` (name: MiB of random
    /// data), unmounts, needs `e2fsck -fn` clean, remounts and finds every
    /// file unchanged, then takes everything down and needs nbdfuse to exit 0.
    static func check(uri: String, files: [String: Int], in directory: TemporaryDirectory, cleanup: Cleanup) async throws {
        let volume = try await MountedExport.mount(uri: uri, in: directory, cleanup: cleanup)
        let mountPoint = volume.mountPoint
        try FileManager.default.createDirectory(atPath: mountPoint + "/nested", withIntermediateDirectories: false)
        var written: [String: String] = [:]
        for (name, mebibytes) in files {
            let path = mountPoint + "/" + name
            try await runChecked(
                "dd", ["if=/dev/urandom", "of=\(path)", "bs=1M", "count=\(mebibytes)", "status=none"], in: directory)
            written[name] = try await DiskImage.sha256(path, in: directory)
        }
        try await runChecked("sync", [], in: directory, timeout: .seconds(120))
        try await volume.unmountFilesystem()

        let check = try await run("e2fsck", ["-f", "-n", volume.loop], in: directory, timeout: .seconds(120))
        #expect(check.exitStatus == 0, "e2fsck should find the filesystem clean:\n\(check)")

        let remount = try await volume.mountAgain()
        for (name, hash) in written.sorted(by: { $0.key < $1.key }) {
            let again = try await DiskImage.sha256(mountPoint + "/" + name, in: directory)
            #expect(again == hash, "\(name) changed across unmount and remount")
        }
        try await volume.unmountFilesystem(step: remount)
        try await volume.detach()
    }

    /// Fails, saying what is missing, when this machine cannot run the test.
    static func checkPrerequisites() async throws {
        guard getuid() == 0 else { throw InteropError("the filesystem test needs root (mount, losetup); run as root") }
        guard FileManager.default.fileExists(atPath: "/dev/fuse") else {
            throw InteropError(
                "/dev/fuse does not exist: FUSE is unavailable here "
                    + "(load the fuse module, or give the container /dev/fuse)")
        }
        guard FileManager.default.fileExists(atPath: "/dev/loop-control") else {
            throw InteropError(
                "/dev/loop-control does not exist: loop devices are unavailable here "
                    + "(modprobe loop, or give the container loop devices)")
        }
        let directory = try TemporaryDirectory()
        let free = try await run("losetup", ["--find"], in: directory)
        guard free.succeeded else { throw InteropError("losetup cannot find a free loop device:\n\(free)") }
    }

    /// The mount points of this mount namespace, from /proc/self/mountinfo.
    static func mountPoints() throws -> Set<String> {
        let table = try readProcFile("/proc/self/mountinfo")
        return Set(
            table.split(separator: "\n").compactMap { line in
                let fields = line.split(separator: " ")
                return fields.count > 4 ? String(fields[4]) : nil
            })
    }
}
