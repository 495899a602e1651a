import CSystemShims
import Glibc
import LayerDiff
import Testing

/// A fresh directory under /tmp, removed at the end.
final class ScratchDirectory {
    let path: String

    init() {
        var template = Array("/tmp/buse-layerdiff-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { _ = system("rm -rf '\(path)'") }

    func directory(_ relative: String, mode: mode_t = 0o755) {
        mkdir(path + "/" + relative, mode)
        chmod(path + "/" + relative, mode)
    }

    func file(_ relative: String, _ content: String = "", mode: mode_t = 0o644) {
        let descriptor = open(path + "/" + relative, O_WRONLY | O_CREAT | O_TRUNC, mode)
        _ = content.withCString { write(descriptor, $0, strlen($0)) }
        close(descriptor)
        chmod(path + "/" + relative, mode)
    }

    /// overlayfs' whiteout: a 0/0 character device (needs root).
    func whiteout(_ relative: String) { mknod(path + "/" + relative, S_IFCHR | 0o000, 0) }

    func attribute(_ relative: String, _ name: String, _ value: String) {
        let result = lsetxattr(path + "/" + relative, name, value, value.utf8.count, 0)
        precondition(result == 0, "setxattr \(name) on \(relative): \(String(cString: strerror(errno)))")
    }
}

/// glibc's `makedev` (a macro Swift cannot call).
func deviceNumber(_ major: UInt64, _ minor: UInt64) -> dev_t {
    dev_t(minor & 0xff | (major & 0xfff) << 8 | (minor & ~0xff) << 12 | (major & ~0xfff) << 32)
}

/// The upper-directory walker against hand-made overlay layers (as root:
/// whiteouts are device nodes and opacity a `trusted.` attribute).
@Suite struct UpperDirectoryTests {
    /// The members (name, type flag) of the layer of `upper` over `lowers`.
    func layer(_ upper: String, _ lowers: [String]) throws -> [TarReader.Member] {
        var writer = TarWriter(output: MemoryOutput())
        try UpperDirectory(path: upper, lowers: LowerLayers(directories: lowers)).write(to: &writer)
        #expect(writer.output.finished)
        return try TarReader.members(writer.output.bytes)
    }

    @Test func overlayWhiteoutsOpaqueDirectoriesAndLinksBecomeOCIMembers() throws {
        let scratch = ScratchDirectory()
        for directory in ["lower", "upper", "lower/a", "lower/c", "lower/c/old", "upper/a", "upper/c", "upper/new"] {
            scratch.directory(directory)
        }
        scratch.file("lower/a/gone", "x")
        scratch.file("lower/a/kept", "k")
        scratch.file("lower/b", "b")
        scratch.file("lower/c/old/deep", "d")
        scratch.whiteout("upper/a/gone")
        scratch.file("upper/a/added", "added\n", mode: 0o4755)
        scratch.attribute("upper/a", "trusted.overlay.origin", "ignored")
        scratch.attribute("upper/a/added", "user.note", "kept")
        scratch.whiteout("upper/b")
        scratch.attribute("upper/c", "trusted.overlay.opaque", "y")
        scratch.file("upper/c/fresh", "f")
        // A whiteout of a name nothing below has: left out.
        scratch.whiteout("upper/ghost")
        scratch.file("upper/h1", "same inode")
        link(scratch.path + "/upper/h1", scratch.path + "/upper/h2")
        symlink("/etc/passwd", scratch.path + "/upper/s")
        mkfifo(scratch.path + "/upper/pipe", 0o600)
        // A new directory is opaque to nothing: no opaque marker.
        scratch.attribute("upper/new", "trusted.overlay.opaque", "y")
        chown(scratch.path + "/upper/new", 100_000, 3_000_000)

        let members = try layer(scratch.path + "/upper", [scratch.path + "/lower"])
        #expect(
            members.map(\.nameText) == [
                "a/", "a/added", "a/.wh.gone", ".wh.b", "c/", "c/.wh..wh..opq", "c/fresh", "h1", "h2", "new/", "pipe", "s",
            ])
        let byName = Dictionary(uniqueKeysWithValues: members.map { ($0.nameText, $0) })
        #expect(byName["a/"]?.records.isEmpty == true, "overlayfs' own attributes stay out")
        #expect(byName["a/added"]?.records["SCHILY.xattr.user.note"] == Array("kept".utf8))
        #expect(byName["a/added"]?.mode == 0o4755)
        #expect(byName["a/added"]?.content == Array("added\n".utf8))
        #expect(byName["h2"]?.kind == UInt8(ascii: "1") && byName["h2"]?.linkTarget == Array("h1".utf8))
        #expect(byName["s"]?.kind == UInt8(ascii: "2") && byName["s"]?.linkTarget == Array("/etc/passwd".utf8))
        #expect(byName["pipe"]?.kind == UInt8(ascii: "6"))
        #expect(byName["new/"]?.uid == 100_000 && byName["new/"]?.gid == 3_000_000)
        #expect(byName[".wh.b"]?.kind == UInt8(ascii: "0") && byName[".wh.b"]?.size == 0)
    }

    @Test func aLowerLayerHidesWhatItWhitesOutOrMakesOpaque() throws {
        let scratch = ScratchDirectory()
        for directory in ["l1", "l2", "l2/d", "l2/o", "l1/o", "upper", "upper/d", "upper/o", "l2/f"] { scratch.directory(directory) }
        scratch.file("l2/d/x")
        scratch.file("l2/o/y")
        scratch.file("l2/f/z")
        scratch.file("l1/f")  // a file in the nearer layer hides the directory below
        scratch.whiteout("l1/d")
        scratch.attribute("l1/o", "trusted.overlay.opaque", "y")
        // Whiteouts under a whiteout and an opaque directory hide nothing more; `f` is a file in l1.
        scratch.whiteout("upper/d/x")
        scratch.whiteout("upper/o/y")
        scratch.whiteout("upper/f")
        let members = try layer(scratch.path + "/upper", [scratch.path + "/l1", scratch.path + "/l2"])
        #expect(members.map(\.nameText) == ["d/", ".wh.f", "o/"])
    }

    @Test func aDeviceNodeAndAnAbsoluteLinkAreWrittenNeverFollowed() throws {
        let scratch = ScratchDirectory()
        scratch.directory("upper")
        mknod(scratch.path + "/upper/null", S_IFCHR | 0o666, deviceNumber(1, 3))
        mknod(scratch.path + "/upper/disk", S_IFBLK | 0o600, deviceNumber(8, 0))
        symlink("/", scratch.path + "/upper/root")
        symlink("../../../../etc", scratch.path + "/upper/up")
        let members = try layer(scratch.path + "/upper", [])
        #expect(members.map(\.nameText) == ["disk", "null", "root", "up"])
        #expect(members.map(\.kind) == [UInt8(ascii: "4"), UInt8(ascii: "3"), UInt8(ascii: "2"), UInt8(ascii: "2")])
        #expect(members.allSatisfy { $0.content.isEmpty })
    }

    @Test func theSameTreeGivesTheSameBytes() throws {
        let scratch = ScratchDirectory()
        scratch.directory("upper")
        for name in ["b", "a", "c", "a.b", "a-b"] { scratch.directory("upper/" + name) }
        for name in ["z", "y", "x"] { scratch.file("upper/a/" + name, name) }
        var first = TarWriter(output: MemoryOutput())
        try UpperDirectory(path: scratch.path + "/upper", lowers: LowerLayers(directories: [])).write(to: &first)
        var second = TarWriter(output: MemoryOutput())
        try UpperDirectory(path: scratch.path + "/upper", lowers: LowerLayers(directories: [])).write(to: &second)
        #expect(first.output.bytes == second.output.bytes)
        let names = try TarReader.members(first.output.bytes).map(\.nameText)
        #expect(names == ["a/", "a/x", "a/y", "a/z", "a-b/", "a.b/", "b/", "c/"])
    }
}
