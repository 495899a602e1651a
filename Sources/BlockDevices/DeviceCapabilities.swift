/// What a device can do. The engine turns these into NBD transmission flags,
/// so each one must be true, never optimistic.
public struct DeviceCapabilities: Sendable, Equatable {
    /// How an optional feature is provided.
    public enum Support: Sendable, Equatable, Comparable {
        /// Not available; requests for it are refused.
        case none
        /// Provided by a layer above the device out of other operations
        /// (zero by writes, FUA by a flush after the write).
        case emulated
        /// The device does it itself, cheaply.
        case native
    }

    /// Every write, trim and zero is refused with EPERM.
    public var isReadOnly: Bool
    /// `flush` makes completed writes durable. False only for devices with no
    /// volatile cache at all (where flush would be a no-op anyway).
    public var canFlush: Bool
    /// Force unit access: how a write is made durable on its own.
    public var fua: Support
    /// `trim` releases space.
    public var canTrim: Bool
    /// `zero`: `.native` devices zero without writing every byte.
    public var zero: Support
    /// A zero request with `fastOnly` succeeds only when it is faster than
    /// writing zeros; true only for devices whose `zero` is always fast.
    public var canFastZero: Bool
    /// `blockStatus` reports holes and zeros (rather than "all data").
    public var canBlockStatus: Bool
    /// `cache` does something useful.
    public var canCache: Bool
    /// Every connection sees the others' writes once they are flushed, so a
    /// client may spread I/O over several connections (NBD_FLAG_CAN_MULTI_CONN).
    public var isMultiConnSafe: Bool
    /// The smallest I/O the device handles without read-modify-write; the
    /// engine advertises it as the preferred block size.
    public var blockSizePreferred: UInt32
    /// `startRead` and `startWrite` may take requests (they may still
    /// decline any one of them). Not advertised to clients: the engine
    /// offers requests to them only when this is true, so that a device
    /// without them costs nothing for their sake. A layer may offer its own
    /// start to any device below it: one without says false.
    public var startsWithoutTask: Bool

    public init(
        isReadOnly: Bool = false,
        canFlush: Bool = true,
        fua: Support = .none,
        canTrim: Bool = false,
        zero: Support = .none,
        canFastZero: Bool = false,
        canBlockStatus: Bool = false,
        canCache: Bool = false,
        isMultiConnSafe: Bool = false,
        blockSizePreferred: UInt32 = 4096,
        startsWithoutTask: Bool = false
    ) {
        self.isReadOnly = isReadOnly
        self.canFlush = canFlush
        self.fua = fua
        self.canTrim = canTrim
        self.zero = zero
        self.canFastZero = canFastZero
        self.canBlockStatus = canBlockStatus
        self.canCache = canCache
        self.isMultiConnSafe = isMultiConnSafe
        self.blockSizePreferred = blockSizePreferred
        self.startsWithoutTask = startsWithoutTask
    }
}
