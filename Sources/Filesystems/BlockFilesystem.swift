import Foundation
import Glibc

/// The filesystem on a block device (a `/dev/nbdX`, or a loop device in
/// tests): probed, made and mounted with the system's own tools and calls,
/// as an operator would (`blkid`, `mkfs.ext4`, mount(2), umount2(2)).
///
/// Formatting is refused on anything that is not blank, whatever it holds
/// (a filesystem, a partition table, a RAID or LVM signature): a typo in
/// `--volume` must never cost someone's data.
public enum BlockFilesystem {
    /// What `blkid` finds on `device` (for example "ext4", or a partition
    /// table type), or nil when it finds no signature at all.
    public static func probe(_ device: String) throws(FilesystemError) -> String? {
        // -p: low-level probing of the device itself, not the cache.
        let (status, output) = try run("/usr/sbin/blkid", ["-p", "-o", "export", device])
        // blkid exits 2 when it finds nothing it knows.
        if status == 2 { return nil }
        guard status == 0 else { throw .tool("blkid -p \(device)", status: status, output: output) }
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, values[String(parts[0])] == nil { values[String(parts[0])] = String(parts[1]) }
        }
        return values["TYPE"] ?? values["PTTYPE"].map { "a \($0) partition table" } ?? "an unknown signature"
    }

    /// Makes ext4 on `device`, which must be blank.
    public static func makeExt4(_ device: String, label: String) throws(FilesystemError) {
        if let holds = try probe(device) { throw .notBlank(device: device, holds: holds) }
        let (status, output) = try run("/usr/sbin/mkfs.ext4", ["-q", "-L", label, device])
        guard status == 0 else { throw .tool("mkfs.ext4 \(device)", status: status, output: output) }
    }

    /// Mounts the ext4 filesystem on `device` at `directory` (created when missing).
    public static func mount(_ device: String, at directory: String) throws(FilesystemError) {
        guard let kind = try probe(device) else { throw .blank(device: device) }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw .system("mkdir", directory, errno: errno) }
        guard Glibc.mount(device, directory, kind, 0, nil) == 0 else { throw .system("mount \(device) on", directory, errno: errno) }
    }

    /// Unmounts `directory`; its writes reach the device before this returns.
    public static func unmount(_ directory: String) throws(FilesystemError) {
        guard umount2(directory, 0) == 0 else { throw .system("umount", directory, errno: errno) }
    }

    /// Unmounts `directory`, trying again every 100 ms while it is busy
    /// (EBUSY), `attempts` times at most: a file its user closes a moment
    /// late (a blob still being sent by sendfile, a process another test
    /// started) keeps the mount busy that long. `stillBusy` runs once, at
    /// the first EBUSY. Any other failure, or EBUSY at the last attempt, is
    /// thrown.
    public static func unmount(
        _ directory: String, attempts: Int, stillBusy: () -> Void = {}
    ) async throws(FilesystemError) {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try unmount(directory)
            } catch {
                guard case .system(_, _, let code) = error, code == EBUSY, attempt < attempts else { throw error }
                if attempt == 1 { stillBusy() }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Runs a tool to completion; returns its exit status and its output
    /// (standard output and error together).
    private static func run(_ tool: String, _ arguments: [String]) throws(FilesystemError) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw .tool(tool, status: -1, output: "\(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (process.terminationStatus, output)
    }
}
