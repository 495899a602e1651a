/// What a client learns about an export during negotiation.
public struct ExportDescription: Sendable, Equatable {
    public var name: String
    public var description: String
    public var size: UInt64
    /// Always includes ``TransmissionFlags/hasFlags``.
    public var flags: TransmissionFlags
    public var blockSizeMinimum: UInt32
    public var blockSizePreferred: UInt32
    public var blockSizeMaximum: UInt32

    public init(
        name: String, description: String = "", size: UInt64, flags: TransmissionFlags,
        blockSizeMinimum: UInt32 = 1, blockSizePreferred: UInt32 = 4096,
        blockSizeMaximum: UInt32 = ProtocolLimits.payloadMaximum
    ) {
        self.name = name
        self.description = description
        self.size = size
        self.flags = flags.union(.hasFlags)
        self.blockSizeMinimum = blockSizeMinimum
        self.blockSizePreferred = blockSizePreferred
        self.blockSizeMaximum = blockSizeMaximum
    }
}

/// Where negotiation looks exports up. The empty name means the default export.
public protocol ExportDirectory: Sendable {
    func export(named name: String) -> ExportDescription?
    /// Every export, for NBD_OPT_LIST, in a stable order.
    var exports: [ExportDescription] { get }
}
