import Filesystems
import Foundation
import TestSupport
import Testing

/// On a loop device over a sparse file (root, as the volume commands are):
/// a blank device is found blank, refused for mounting, formatted once,
/// refused a second format, mounted, written and unmounted.
@Suite struct BlockFilesystemTests {
    @Test func aBlankDeviceIsFormattedOnceMountedAndNeverFormattedAgain() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("buse-fs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let image = folder + "/disk.img"
        #expect(FileManager.default.createFile(atPath: image, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try handle.truncate(atOffset: 64 << 20)
        try handle.close()
        let device = try shell("losetup", "--find", "--show", image)
        defer { _ = try? shell("losetup", "-d", device) }

        #expect(try BlockFilesystem.probe(device) == nil)
        let mountPoint = folder + "/mnt"
        #expect(throws: FilesystemError.blank(device: device)) { try BlockFilesystem.mount(device, at: mountPoint) }
        try BlockFilesystem.makeExt4(device, label: "buse-test")
        #expect(try BlockFilesystem.probe(device) == "ext4")
        #expect(throws: FilesystemError.notBlank(device: device, holds: "ext4")) {
            try BlockFilesystem.makeExt4(device, label: "again")
        }
        try BlockFilesystem.mount(device, at: mountPoint)
        #expect(FileManager.default.createFile(atPath: mountPoint + "/kept", contents: Data("kept".utf8)))
        try await unmount(mountPoint)
        #expect(!FileManager.default.fileExists(atPath: mountPoint + "/kept"), "unmounted: the file is on the device")
        try BlockFilesystem.mount(device, at: mountPoint)
        #expect(FileManager.default.contents(atPath: mountPoint + "/kept") == Data("kept".utf8))
        try await unmount(mountPoint)
    }

    /// Unmounts, trying again while the mount is busy, for at most 30 s
    /// (300 tries, 100 ms apart). Tests run in parallel, and a process
    /// another test starts at the moment this one has a file open on the
    /// mount can hold it open a while (seen once in CI: EBUSY right after
    /// the write). If it stays busy, the failure names the processes that
    /// hold files there.
    private func unmount(_ mountPoint: String) async throws {
        do {
            try await BlockFilesystem.unmount(mountPoint, attempts: 300)
        } catch {
            if case .system(_, _, let code) = error, code == EBUSY {
                Issue.record("still busy after 30 s; processes with files under \(mountPoint): \(holders(of: mountPoint))")
            }
            throw error
        }
    }

    /// "pid command" for each process whose open files or working directory lie under `directory`.
    private func holders(of directory: String) -> [String] {
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return processes.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            let links = ["/proc/\(pid)/cwd"] + descriptors.map { "/proc/\(pid)/fd/\($0)" }
            let holds = links.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: $0))?.hasPrefix(directory) == true }
            guard holds else { return nil }
            let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "?"
            return "\(pid) \(command.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    /// Runs a tool, returns its trimmed standard output; throws unless it exits 0.
    ///
    /// Its output goes to a file, not a pipe: a pipe's write end leaks into
    /// whatever other tests spawn meanwhile, and reading it to its end then
    /// waits for those processes too (80 s of a pool thread in one full run).
    /// And it is waited for on a semaphore, not with Foundation's
    /// `waitUntilExit`, which spins a run loop on the pool thread.
    private func shell(_ tool: String, _ arguments: String...) throws -> String {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("buse-shell-\(UUID().uuidString)").path
        defer { for file in [prefix + ".stdout", prefix + ".stderr"] { unlink(file) } }
        let child = try ChildProcess("/usr/sbin/\(tool)", arguments, outputPrefix: prefix)
        guard child.waitBlocking(seconds: 300) == .exit(0) else {
            child.send(SIGKILL)
            throw ShellError(command: "\(tool) \(arguments): \(child.standardErrorTail())")
        }
        return child.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct ShellError: Error { let command: String }
}
