import Glibc

/// What `buse layers detach` needs to undo an attach: the mount point, the
/// process holding the devices, the devices, the layers' mounts and the
/// scratch tmpfs. Kept in `/run/buse/layers/ID/stack` (ID from the mount
/// point's path), one `KEY VALUE` line per item; /run is a tmpfs, so the
/// record goes with a reboot, as do the mounts it describes.
public struct LayerStackRecord: Sendable, Equatable {
    public var target: String
    public var pid: Int32
    public var devices: [String] = []
    /// The erofs mounts, top layer first.
    public var lowers: [String] = []
    /// The tmpfs holding the overlay's upper and work directories, when no
    /// directory was given for them.
    public var scratch: String?
    /// Whether the overlay at the target is ours: only then is it unmounted
    /// (the target may be a mount point of someone else's before an attach).
    public var overlayMounted = false

    public init(target: String, pid: Int32) {
        self.target = target
        self.pid = pid
    }

    static let base = "/run/buse/layers"

    /// The state directory of a stack mounted at `target` (an absolute, resolved path).
    public static func stateDirectory(target: String) -> String {
        // FNV-1a of the path: a fixed-length name whatever the path holds.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in target.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return "\(base)/\(String(repeating: "0", count: 16 - hex.count))\(hex)"
    }

    public var stateDirectory: String { Self.stateDirectory(target: target) }

    var text: String {
        var lines = ["target \(target)", "pid \(pid)"]
        lines += devices.map { "device \($0)" } + lowers.map { "lower \($0)" }
        if let scratch { lines.append("scratch \(scratch)") }
        if overlayMounted { lines.append("overlay mounted") }
        return lines.joined(separator: "\n") + "\n"
    }

    func save() throws(SealedLayerError) {
        for directory in ["/run/buse", Self.base, stateDirectory] where mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw .system("create \(directory)", errno: errno)
        }
        try DurableFile.write(text, to: stateDirectory + "/stack")
    }

    /// The record of the stack at `target`, or nil when none is attached there.
    public static func load(target: String) throws(SealedLayerError) -> LayerStackRecord? {
        let path = stateDirectory(target: target) + "/stack"
        guard let text = try SealedLayerCatalog.readSmallFile(path, limit: 64 * 1024) else { return nil }
        var record = LayerStackRecord(target: "", pid: 0)
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let value = String(line[line.index(after: space)...])
            switch line[..<space] {
            case "target": record.target = value
            case "pid": record.pid = Int32(value) ?? 0
            case "device": record.devices.append(value)
            case "lower": record.lowers.append(value)
            case "scratch": record.scratch = value
            case "overlay": record.overlayMounted = true
            default: continue
            }
        }
        guard record.target == target else { throw .refused("\(path) describes \(record.target), not \(target)") }
        return record
    }

    /// Whether the attaching process is still running.
    public var processIsAlive: Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }
}
