/// How a zero request may be carried out (NBD_CMD_WRITE_ZEROES flags).
public struct ZeroOptions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The range may be deallocated (a hole that reads as zeros). Absent when
    /// the client sent NBD_CMD_FLAG_NO_HOLE: then the space stays allocated.
    public static let mayTrim = ZeroOptions(rawValue: 1 << 0)
    /// NBD_CMD_FLAG_FAST_ZERO: fail at once with ``DeviceError/Kind/notSupported``
    /// rather than zero slowly; the client will then write zeros itself.
    public static let fastOnly = ZeroOptions(rawValue: 1 << 1)
    /// NBD_CMD_FLAG_FUA: durable when the call returns.
    public static let fua = ZeroOptions(rawValue: 1 << 2)
}
