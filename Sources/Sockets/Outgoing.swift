import Glibc

/// One message for a ``SocketWriter``: up to ``headCapacity`` bytes carried
/// in the value itself (an NBD reply header, a replication frame header),
/// then optionally a body elsewhere in memory. It is a plain value with no
/// references, so queueing it allocates nothing beyond the queue's storage.
///
/// The body is one of:
/// - **pooled**: a range of a ``PayloadBuffer`` the message owns; the writer
///   gives the buffer back to its pool once the message has left;
/// - **copied**: memory allocated here and freed by the writer (cold path:
///   error replies, documents);
/// - **borrowed**: the sender's memory, which must stay valid and unchanged
///   until the writer releases the message (``SocketWriter/released(_:)``).
// Safety: a message's body is never written while it is queued: pooled and
// copied memory belong to the message, borrowed memory to a sender that
// waits for the writer's release before it reuses it.
public struct Outgoing: @unchecked Sendable {
    /// The most bytes a message carries in itself: a replication frame
    /// header (40) and every NBD reply header fit.
    public static let headCapacity = 48

    enum Keep {
        case nothing
        case buffer(PayloadBuffer)
        case allocation(UnsafeMutableRawBufferPointer)
    }

    var head: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    var headLength = 0
    var body: UnsafeRawPointer?
    var bodyLength = 0
    var keep = Keep.nothing
    /// Bytes already on the wire, after a partial send.
    var sent = 0
    /// Requests this message completes, reported by the writer once it has
    /// left or been dropped (the NBD server's in-flight count).
    public var completedRequests = 0
    /// Payload bytes held against an in-flight limit, reported likewise.
    public var heldBytes = 0

    /// A message of `headLength` bytes (at most ``headCapacity``) that
    /// `write` fills in.
    public init(headLength: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        precondition(headLength <= Self.headCapacity)
        self.headLength = headLength
        withUnsafeMutableBytes(of: &head) { write($0.baseAddress!) }
    }

    /// `length` bytes from `start`, which lies in `buffer`; the buffer goes
    /// back to the writer's pool once they have left.
    public init(pooled buffer: PayloadBuffer, start: UnsafeRawPointer, length: Int) {
        body = start
        bodyLength = length
        keep = .buffer(buffer)
    }

    /// A copy of `bytes` in memory of its own (allocates: not for the hot path).
    public init(copying bytes: UnsafeRawBufferPointer) {
        appendCopying(bytes)
    }

    /// Adds a copy of `bytes` after the head (allocates: not for the hot path).
    public mutating func appendCopying(_ bytes: UnsafeRawBufferPointer) {
        precondition(body == nil, "a message has one body")
        guard bytes.count > 0 else { return }
        let allocation = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        allocation.copyMemory(from: bytes)
        body = UnsafeRawPointer(allocation.baseAddress)
        bodyLength = bytes.count
        keep = .allocation(allocation)
    }

    /// Adds `bytes` after the head without copying them: they must stay
    /// valid and unchanged until the writer has released this message.
    public mutating func appendBorrowing(_ bytes: UnsafeRawBufferPointer) {
        precondition(body == nil, "a message has one body")
        guard bytes.count > 0 else { return }
        body = bytes.baseAddress
        bodyLength = bytes.count
    }

    public var length: Int { headLength + bodyLength }

    /// Describes the unsent bytes as up to two vectors: the head, copied
    /// into `headSlot` (``headCapacity`` bytes, so the vector never points
    /// into a value that may move), then the body. Returns how many.
    func vectors(_ vectors: UnsafeMutablePointer<iovec>, headSlot: UnsafeMutableRawPointer) -> Int {
        var count = 0
        if sent < headLength {
            withUnsafeBytes(of: head) { headSlot.copyMemory(from: $0.baseAddress! + sent, byteCount: headLength - sent) }
            vectors[0] = iovec(iov_base: headSlot, iov_len: headLength - sent)
            count = 1
        }
        if bodyLength > 0 {
            let skip = max(0, sent - headLength)
            vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: body! + skip), iov_len: bodyLength - skip)
            count += 1
        }
        return count
    }

    /// Gives back what the message owns, once it has left or been dropped.
    func release(to pool: BufferPool?) {
        switch keep {
        case .nothing: break
        case let .buffer(buffer):
            precondition(pool != nil, "a pooled message sent through a writer without a pool")
            pool?.release(buffer)
        case let .allocation(allocation): allocation.deallocate()
        }
    }
}
