/// What the handshake settled, handed to the transmission phase.
public struct NegotiatedSession: Sendable, Equatable {
    public var export: ExportDescription
    /// NBD_OPT_STRUCTURED_REPLY was acknowledged.
    public var structuredReplies: Bool
    /// `base:allocation` was selected for this export, so BLOCK_STATUS is allowed.
    public var baseAllocation: Bool

    public init(export: ExportDescription, structuredReplies: Bool, baseAllocation: Bool) {
        self.export = export
        self.structuredReplies = structuredReplies
        self.baseAllocation = baseAllocation
    }
}
