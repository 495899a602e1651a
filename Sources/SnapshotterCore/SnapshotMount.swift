/// containerd's `Mount`: what the caller passes to mount(2) to see a snapshot.
public struct SnapshotMount: Sendable, Hashable {
    public var type: String
    public var source: String
    public var options: [String]

    public init(type: String, source: String, options: [String]) {
        self.type = type
        self.source = source
        self.options = options
    }

    /// The mounts of a snapshot whose directory is `directory` (holding
    /// `fs` and `work`) over the `fs` directories of its parent chain,
    /// nearest parent first — the rules of containerd's overlayfs snapshotter:
    ///
    /// - no parent: a bind mount of its own `fs` (read-only for a view);
    /// - a view on one parent: a read-only bind mount of the parent's `fs`;
    /// - a view on several: overlay with only `lowerdir`;
    /// - an active snapshot with parents: overlay with its `fs` as `upperdir`.
    public static func mounts(kind: Snapshot.Kind, directory: String, parents: [String]) -> [SnapshotMount] {
        let readOnly = kind != .active
        if parents.isEmpty {
            return [SnapshotMount(type: "bind", source: directory + "/fs", options: ["rbind", readOnly ? "ro" : "rw"])]
        }
        let lower = "lowerdir=" + parents.joined(separator: ":")
        if readOnly {
            if parents.count == 1 { return [SnapshotMount(type: "bind", source: parents[0], options: ["rbind", "ro"])] }
            return [SnapshotMount(type: "overlay", source: "overlay", options: [lower])]
        }
        return [
            SnapshotMount(
                type: "overlay", source: "overlay",
                options: ["workdir=" + directory + "/work", "upperdir=" + directory + "/fs", lower])
        ]
    }
}
