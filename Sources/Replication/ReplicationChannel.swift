/// One connection between a primary and its peer, carrying frames both
/// ways: a TCP socket in service, an in-memory pipe with faults in the
/// simulation. Frames arrive in the order they were sent (a stream).
public protocol ReplicationChannel: Sendable {
    /// Sends one frame. `data` (exactly `header.payloadLength` bytes) has
    /// been written or copied when this returns; frames from concurrent
    /// callers never interleave.
    func send(_ header: FrameHeader, data: UnsafeRawBufferPointer) throws(ReplicationError)

    /// Starts delivering received frames to `onFrame`, one at a time and in
    /// order, then `onClose` once when the channel ends for any reason.
    func start(onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void)

    /// Ends the channel; `onClose` follows.
    func close(_ reason: ReplicationError)

    /// Who is at the other end, for logs and refusals.
    var peerName: String { get }
}

extension ReplicationChannel {
    public func send(_ frame: Frame) throws(ReplicationError) {
        try send(frame.header, data: frame.payload.readable)
    }
}
