import Glibc

/// The read-only layers under an overlay's upper directory, nearest first,
/// asked about single paths only: never listed, never walked. A question
/// costs one `lstat` per path component per layer, at most.
///
/// A path exists below when the nearest layer that says anything about it
/// has it: a whiteout (a 0/0 character device), a non-directory on the way,
/// or an opaque directory (`trusted.overlay.opaque=y`) on the way hides
/// everything under it from the layers further down.
public struct LowerLayers: Sendable {
    public enum Found: Sendable, Hashable {
        case directory
        case other
    }

    let directories: [[UInt8]]

    public init(directories: [String]) { self.directories = directories.map { Array($0.utf8) } }

    /// What the layers together show at `path` (relative, `/`-separated), if anything.
    public func find(_ path: [UInt8]) throws(LayerDiffError) -> Found? {
        let components = path.split(separator: Syscall.slash)
        guard !components.isEmpty else { return .directory }
        for layer in directories {
            var current = layer
            var opaqueAbove = false
            for (index, component) in components.enumerated() {
                current.append(Syscall.slash)
                current.append(contentsOf: component)
                guard let status = try Syscall.status(current) else {
                    // This layer says nothing here; an opaque directory above
                    // still hides the layers below it.
                    if opaqueAbove { return nil }
                    break
                }
                if Self.isWhiteout(status) { return nil }
                let isDirectory = status.st_mode & S_IFMT == S_IFDIR
                if index == components.count - 1 { return isDirectory ? .directory : .other }
                if !isDirectory { return nil }
                if try Self.isOpaque(current) { opaqueAbove = true }
            }
        }
        return nil
    }

    /// overlayfs' whiteout: a character device with device number 0/0.
    static func isWhiteout(_ status: stat) -> Bool { status.st_mode & S_IFMT == S_IFCHR && status.st_rdev == 0 }

    static let opaqueAttribute = Array("trusted.overlay.opaque".utf8)

    static func isOpaque(_ path: [UInt8]) throws(LayerDiffError) -> Bool {
        try Syscall.attribute(path, opaqueAttribute) == [UInt8(ascii: "y")]
    }
}
