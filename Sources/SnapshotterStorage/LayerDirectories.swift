/// Where a snapshot's layer and the layers under it live on disk.
public struct LayerDirectories: Sendable, Hashable {
    /// The snapshot's own `fs`: an active snapshot's overlay upper directory.
    public var upper: String
    /// The parents' `fs` directories, nearest first (overlay's `lowerdir` order).
    public var lowers: [String]

    public init(upper: String, lowers: [String]) {
        self.upper = upper
        self.lowers = lowers
    }
}
