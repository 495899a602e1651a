/// One connection between a primary and its peer, carrying frames both
/// ways: a TCP socket in service, an in-memory pipe with faults in the
/// simulation. Frames arrive in the order they were sent (a stream).
/// Sending never waits for the other end.
public protocol ReplicationChannel: Sendable {
    /// Sends one frame. `data` (exactly `header.payloadLength` bytes) has
    /// been copied when this returns; frames from concurrent callers never
    /// interleave. For answers and documents: small, or off the hot path.
    func send(_ header: FrameHeader, data: UnsafeRawBufferPointer) throws(ReplicationError)

    /// Sends one frame without copying `data`: it must stay valid and
    /// unchanged until ``released(_:)`` for the returned ticket has returned
    /// (the frame was written, or dropped because the channel failed). An
    /// answer from the peer to this frame also means every byte of it was
    /// written. Throws, with nothing borrowed, when the channel has failed.
    func send(_ header: FrameHeader, borrowing data: UnsafeRawBufferPointer) throws(ReplicationError) -> SendTicket

    /// Returns once the channel no longer reads the data of the frame
    /// `ticket` names. An asynchronous wait, never a blocked thread.
    func released(_ ticket: SendTicket) async

    /// Starts delivering received frames to `onFrame`, one at a time and in
    /// order, then `onClose` once when the channel ends for any reason.
    /// Before each wait for the next frame it asks `mayPoll` whether that
    /// wait may poll before it blocks (a channel that never polls ignores
    /// it; see ``Socket/receive(into:count:polling:mayPoll:)``).
    func start(
        onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void,
        mayPoll: @escaping @Sendable () -> Bool)

    /// Ends the channel; `onClose` follows.
    func close(_ reason: ReplicationError)

    /// Who is at the other end, for logs and refusals.
    var peerName: String { get }
}

/// Names a frame sent with borrowed data, to wait for its release.
public struct SendTicket: Sendable, Hashable {
    public let id: UInt64

    public init(id: UInt64) { self.id = id }

    /// A frame whose data was copied (or that had none): nothing to wait for.
    public static let copied = SendTicket(id: 0)
}

extension ReplicationChannel {
    public func send(_ frame: Frame) throws(ReplicationError) {
        try send(frame.header, data: frame.payload.readable)
    }

    /// For channels that copy every frame (the simulation's).
    public func send(_ header: FrameHeader, borrowing data: UnsafeRawBufferPointer) throws(ReplicationError) -> SendTicket {
        try send(header, data: data)
        return .copied
    }

    public func released(_ ticket: SendTicket) async {}

    /// Starts the channel with every wait free to poll, as its polling
    /// budget has learnt (a replica's reader: it has no answers to count).
    public func start(onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void) {
        start(onFrame: onFrame, onClose: onClose, mayPoll: { true })
    }
}
