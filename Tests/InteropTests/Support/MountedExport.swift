import Foundation
import TestSupport

/// ext4 made on an export and mounted, as users do it on a host without
/// the kernel's nbd module: nbdfuse shows the export as a file, a loop
/// device makes it a block device. ``unmount()`` takes it all down in order
/// (unmount, detach the loop, unmount nbdfuse) and needs nbdfuse to exit 0;
/// `cleanup` does the same lazily if the test fails first.
struct MountedExport {
    let mountPoint: String
    let loop: String
    private let fuseFile: String
    private let nbdfuse: ChildProcess
    private let directory: TemporaryDirectory
    private let cleanup: Cleanup
    private let steps: (unfuse: Int, detach: Int, unmount: Int)

    static func mount(uri: String, in directory: TemporaryDirectory, cleanup: Cleanup) async throws -> MountedExport {
        try await Ext4OnExport.checkPrerequisites()
        let fuseFile = directory.file("export.raw")
        guard FileManager.default.createFile(atPath: fuseFile, contents: nil) else { throw InteropError("cannot create \(fuseFile)") }
        let nbdfuse = try ChildProcess(
            try Tool.path("nbdfuse"), [fuseFile, uri], outputPrefix: directory.unique("nbdfuse"), currentDirectory: directory.path)
        let unfuse = cleanup.add([try Tool.path("fusermount3"), "-u", "-z", fuseFile])
        try await waitUntil("nbdfuse mounts \(fuseFile)", timeout: .seconds(120)) {
            if let ended = nbdfuse.termination { throw InteropError("nbdfuse \(ended):\n\(nbdfuse.standardErrorTail())") }
            return try Ext4OnExport.mountPoints().contains(fuseFile)
        }
        let loop = try await runChecked("losetup", ["--find", "--show", fuseFile], in: directory)
            .standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let detach = cleanup.add([try Tool.path("losetup"), "-d", loop])
        try await runChecked("mkfs.ext4", ["-q", "-F", loop], in: directory, timeout: .seconds(120))
        let mountPoint = directory.file("mnt")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try await runChecked("mount", [loop, mountPoint], in: directory)
        let unmount = cleanup.add([try Tool.path("umount"), "-l", mountPoint])
        return MountedExport(
            mountPoint: mountPoint, loop: loop, fuseFile: fuseFile, nbdfuse: nbdfuse, directory: directory, cleanup: cleanup,
            steps: (unfuse, detach, unmount))
    }

    /// Unmounts the filesystem, then detaches everything beneath it.
    func unmount() async throws {
        try await unmountFilesystem()
        try await detach()
    }

    /// Unmounts the filesystem only (the loop device stays, for fsck).
    func unmountFilesystem() async throws {
        try await runChecked("umount", [mountPoint], in: directory, timeout: .seconds(120))
        cleanup.done(steps.unmount)
    }

    /// Mounts the filesystem again after ``unmountFilesystem()``; returns the
    /// cleanup step that unmounts it, for ``unmountFilesystem(step:)``.
    func mountAgain() async throws -> Int {
        try await runChecked("mount", [loop, mountPoint], in: directory)
        return cleanup.add([try Tool.path("umount"), "-l", mountPoint])
    }

    func unmountFilesystem(step: Int) async throws {
        try await runChecked("umount", [mountPoint], in: directory, timeout: .seconds(120))
        cleanup.done(step)
    }

    /// Detaches the loop device and unmounts nbdfuse, which must exit 0.
    func detach() async throws {
        try await runChecked("losetup", ["-d", loop], in: directory)
        cleanup.done(steps.detach)
        try await runChecked("fusermount3", ["-u", fuseFile], in: directory)
        cleanup.done(steps.unfuse)
        let ended = await nbdfuse.waitForTermination(timeout: .seconds(120))
        guard ended == .exit(0) else {
            throw InteropError("nbdfuse should exit 0 once unmounted: \(ended?.description ?? "still running")")
        }
    }
}
