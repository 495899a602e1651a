/// Reads a stream of frames in large pieces, so that a burst of small
/// frames (NBD requests, replication frames and acknowledgements) costs one
/// `recv` rather than two per frame. Large payloads are read straight into
/// their own buffer after what was read ahead.
public struct ReadAheadBuffer: ~Copyable {
    private let storage: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// Whether waiting for this stream's next message polls first.
    private var polling = PollBudget()

    public init(capacity: Int = 64 * 1024) {
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Bytes read but not yet consumed.
    public var buffered: Int { end - start }

    /// Returns a pointer to the next `count` bytes (count ≤ capacity), reading
    /// from the socket as needed. Valid until the next call. A wait for them
    /// polls first only if `mayPoll` and the stream's ``PollBudget`` agree;
    /// `mayPoll` is asked only when the bytes are not already here.
    public mutating func next(
        _ count: Int, from socket: Socket, mayPoll: @autoclosure () -> Bool = true
    ) throws(SocketError) -> UnsafeRawPointer {
        if buffered < count {
            let polls = mayPoll()
            if start > 0 {
                // Slide the partial frame to the front.
                let pending = buffered
                if pending > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: storage[0..<pending])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<end]))
                }
                start = 0
                end = pending
            }
            while end - start < count {
                let free = UnsafeMutableRawBufferPointer(rebasing: storage[end...])
                let received = try socket.readSome(into: free, polling: &polling, mayPoll: polls)
                if received == 0 { throw (end - start == 0) ? .closed : .truncated }
                end += received
            }
        }
        defer { start += count }
        return UnsafeRawPointer(storage.baseAddress! + start)
    }

    /// Fills `target` with the next bytes of the stream: first what was read
    /// ahead, then directly from the socket.
    public mutating func fill(_ target: UnsafeMutableRawBufferPointer, from socket: Socket) throws(SocketError) {
        let fromBuffer = min(buffered, target.count)
        if fromBuffer > 0 {
            UnsafeMutableRawBufferPointer(rebasing: target[..<fromBuffer])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<(start + fromBuffer)]))
            start += fromBuffer
        }
        if fromBuffer < target.count {
            try socket.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: target[fromBuffer...]))
        }
    }

    /// Discards the next `count` bytes of the stream without holding them.
    public mutating func skip(_ count: UInt64, from socket: Socket) throws(SocketError) {
        let fromBuffer = Int(min(UInt64(buffered), count))
        start += fromBuffer
        if UInt64(fromBuffer) < count { try socket.skip(count - UInt64(fromBuffer)) }
    }
}
