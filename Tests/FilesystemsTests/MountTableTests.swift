import Filesystems
import Foundation
import Testing

/// Reading /proc/self/mountinfo: what a volume's service checks before it
/// mounts, so that it never mounts over another filesystem unnoticed and
/// finds its own volume after a crash.
@Suite struct MountTableTests {
    /// Optional fields (none, or several) come before the "-"; a path with
    /// a space, a tab or a backslash is written with octal escapes; the
    /// same mount point may hold stacked mounts, listed in mount order.
    @Test func linesAreReadWithTheirOptionalFieldsAndEscapes() {
        let table = """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
            41 22 0:5 / /proc rw,nosuid - proc proc rw
            97 22 43:0 / /mnt/a\\040volume rw,relatime shared:60 master:2 - ext4 /dev/nbd0 rw
            98 97 43:32 / /mnt/a\\040volume rw,relatime - ext4 /dev/nbd1 rw
            99 22 0:40 / /srv/back\\134slash\\011tab rw - tmpfs tmpfs rw
            """
        let mounts = MountTable.parse(table)
        #expect(mounts.map(\.mountPoint) == ["/", "/proc", "/mnt/a volume", "/mnt/a volume", "/srv/back\\slash\ttab"])
        #expect(mounts.map(\.source) == ["/dev/vda1", "proc", "/dev/nbd0", "/dev/nbd1", "tmpfs"])
        #expect(mounts.map(\.filesystemType) == ["ext4", "proc", "ext4", "ext4", "tmpfs"])
    }

    /// A malformed line (no "-", too few fields) is skipped, not guessed at.
    @Test func aLineWithoutItsSeparatorIsSkipped() {
        #expect(MountTable.parse("41 22 0:5 / /proc rw,nosuid proc proc rw\nshort line").isEmpty)
    }

    @Test func theMountOnTopOfADirectoryIsFoundAndAPlainDirectoryHasNone() throws {
        #expect(try MountTable.mount(at: "/proc")?.filesystemType == "proc")
        // Resolved first, as the kernel's table holds resolved paths.
        #expect(try MountTable.mount(at: "/proc/../proc/")?.source == "proc")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("buse-mt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try MountTable.mount(at: directory) == nil)
        #expect(try MountTable.mount(at: directory + "/missing") == nil)
    }
}
