import Glibc

/// The OCI layer tar of an overlayfs upper directory, read from the upper
/// directory alone: time and reads proportional to the change, never to
/// the layers below (asked only single paths through ``LowerLayers``).
///
/// What becomes what (containerd's and the OCI image spec's layer rules):
/// - a whiteout (0/0 character device) becomes `.wh.NAME`, when the name
///   exists below (overlayfs may keep whiteouts that hide nothing);
/// - an opaque directory becomes its entry then `.wh..wh..opq`, when a
///   directory exists below it to hide;
/// - files sharing an inode become a file then hard links to it;
/// - extended attributes travel as PAX `SCHILY.xattr.` records, except
///   overlayfs' own `trusted.overlay.*`;
/// - sockets are left out, as containerd's differ does.
///
/// Members come depth first, names in byte order within a directory, a
/// directory before its contents, so the same tree always gives the same
/// bytes. Whiteout and opaque members carry mode 0, owner 0 and the time of
/// the whiteout or directory.
public struct UpperDirectory: Sendable {
    let root: [UInt8]
    let lowers: LowerLayers

    public init(path: String, lowers: LowerLayers) {
        root = Array(path.utf8)
        self.lowers = lowers
    }

    /// Writes the whole layer, end-of-archive included.
    public func write<Output: LayerOutput>(to writer: inout TarWriter<Output>) throws(LayerDiffError) {
        var walk = Walk()
        try visit(directory: [], lowerHidden: false, walk: &walk, writer: &writer)
        try writer.finish()
    }

    /// What a walk remembers: the first path of each inode with several links.
    struct Walk {
        struct Inode: Hashable {
            var device: UInt64
            var number: UInt64
        }
        var firstPaths: [Inode: [UInt8]] = [:]
    }

    static let whiteoutPrefix = Array(".wh.".utf8)
    static let opaqueMarker = Array(".wh..wh..opq".utf8)
    static let overlayPrefix = Array("trusted.overlay.".utf8)
    /// overlayfs features whose upper directory does not hold the whole
    /// change (data or names live in the layers below).
    static let unsupportedAttributes = ["trusted.overlay.redirect", "trusted.overlay.metacopy"].map { Array($0.utf8) }

    /// `lowerHidden`: nothing below `directory` can show through (it is new,
    /// or opaque), so no lower path is asked about.
    private func visit<Output: LayerOutput>(
        directory: [UInt8], lowerHidden: Bool, walk: inout Walk, writer: inout TarWriter<Output>
    ) throws(LayerDiffError) {
        for name in try Syscall.names(absolute(directory)) {
            let path = directory.isEmpty ? name : directory + [Syscall.slash] + name
            let full = absolute(path)
            guard let status = try Syscall.status(full) else { continue }
            let type = status.st_mode & S_IFMT
            if LowerLayers.isWhiteout(status) {
                guard !lowerHidden, try lowers.find(path) != nil else { continue }
                let whiteout = (directory.isEmpty ? [] : directory + [Syscall.slash]) + Self.whiteoutPrefix + name
                try writer.append(TarEntry(path: whiteout, kind: .regular, modificationTime: Int64(status.st_mtim.tv_sec)))
                continue
            }
            if type == S_IFSOCK { continue }
            var entry = try self.entry(path, full: full, status: status)
            if type == S_IFREG && status.st_nlink > 1 {
                let inode = Walk.Inode(device: UInt64(status.st_dev), number: UInt64(status.st_ino))
                if let first = walk.firstPaths[inode] {
                    entry.kind = .hardLink
                    entry.linkTarget = first
                    entry.size = 0
                } else {
                    walk.firstPaths[inode] = path
                }
            }
            try writer.append(entry)
            if entry.kind == .regular && entry.size > 0 { try copyContent(full, size: entry.size, into: &writer) }
            guard type == S_IFDIR else { continue }
            let below = lowerHidden ? nil : try lowers.find(path)
            let opaque = try LowerLayers.isOpaque(full)
            if opaque && below == .directory {
                try writer.append(
                    TarEntry(path: path + [Syscall.slash] + Self.opaqueMarker, kind: .regular, modificationTime: entry.modificationTime))
            }
            try visit(directory: path, lowerHidden: opaque || below != .directory, walk: &walk, writer: &writer)
        }
    }

    private func absolute(_ path: [UInt8]) -> [UInt8] { path.isEmpty ? root : root + [Syscall.slash] + path }

    /// The member describing `path` (content not included).
    private func entry(_ path: [UInt8], full: [UInt8], status: stat) throws(LayerDiffError) -> TarEntry {
        let kind: TarEntry.Kind
        switch status.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symbolicLink
        case S_IFCHR: kind = .characterDevice
        case S_IFBLK: kind = .blockDevice
        case S_IFIFO: kind = .fifo
        default: throw LayerDiffError("\(Syscall.text(full)): a file of unknown type \(status.st_mode & S_IFMT)")
        }
        var attributes: [TarEntry.Attribute] = []
        for name in try Syscall.attributeNames(full).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            if Self.unsupportedAttributes.contains(name) {
                throw LayerDiffError(
                    "\(Syscall.text(full)) has \(Syscall.text(name)): the upper directory alone does not hold this change "
                        + "(mount overlayfs without metacopy and redirect_dir)")
            }
            if name.starts(with: Self.overlayPrefix) { continue }
            // A file can lose an attribute between listing and reading it.
            guard let value = try Syscall.attribute(full, name) else { continue }
            attributes.append(TarEntry.Attribute(name: name, value: value))
        }
        return TarEntry(
            path: path, kind: kind, mode: UInt32(status.st_mode & 0o7777), uid: UInt64(status.st_uid), gid: UInt64(status.st_gid),
            size: kind == .regular ? UInt64(status.st_size) : 0, modificationTime: Int64(status.st_mtim.tv_sec),
            linkTarget: kind == .symbolicLink ? try Syscall.linkTarget(full) : [],
            deviceMajor: kind == .characterDevice || kind == .blockDevice ? Self.major(UInt64(status.st_rdev)) : 0,
            deviceMinor: kind == .characterDevice || kind == .blockDevice ? Self.minor(UInt64(status.st_rdev)) : 0,
            attributes: attributes)
    }

    /// glibc's `major` and `minor` (macros, which Swift cannot call): the
    /// 12-bit major and 20-bit minor split over a 64-bit `dev_t`.
    static func major(_ device: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: (device >> 8) & 0xfff | (device >> 32) & ~0xfff) }
    static func minor(_ device: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: device & 0xff | (device >> 12) & ~0xff) }

    /// Copies exactly `size` bytes of a regular file; a file that shrank
    /// while being read fails the diff rather than giving a corrupt layer.
    private func copyContent<Output: LayerOutput>(
        _ full: [UInt8], size: UInt64, into writer: inout TarWriter<Output>
    ) throws(LayerDiffError) {
        let descriptor = try Syscall.openForReading(full)
        defer { close(descriptor) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while writer.contentRemaining > 0 {
            let wanted = Int(min(UInt64(chunk.count), writer.contentRemaining))
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                throw LayerDiffError("read \(Syscall.text(full))", errno: errno)
            }
            guard count > 0 else { throw LayerDiffError("\(Syscall.text(full)) shrank while its layer was being written") }
            try withBytes(chunk) { (raw) throws(LayerDiffError) in
                try writer.appendContent(UnsafeRawBufferPointer(rebasing: raw[..<count]))
            }
        }
    }
}
