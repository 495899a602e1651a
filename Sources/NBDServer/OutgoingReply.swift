import Sockets

/// One reply ready for the wire, always a single contiguous run of bytes:
/// - `inline`: a header of up to 32 bytes with no payload (acknowledgements),
///   kept in the value itself so the hot path allocates nothing;
/// - `pooled`: a range of a payload buffer (a READ's header and data, or a
///   WRITE's acknowledgement written into the buffer's headroom);
/// - `frame`: a whole prebuilt frame from the cold path (errors, block status).
// Safety: owns its payload buffer exclusively until the channel releases it.
struct OutgoingReply: @unchecked Sendable {
    enum Body {
        case inline((UInt64, UInt64, UInt64, UInt64), length: Int)
        case pooled(PayloadBuffer, start: UnsafeRawPointer, length: Int)
        case frame([UInt8])
    }

    let body: Body
    /// Bytes already on the wire, after a partial send.
    var sent = 0
    /// Payload bytes this reply's request holds against the in-flight limit,
    /// given back once the reply has left.
    var heldBytes = 0
    /// False for the remainder of a batch of replies that were already
    /// counted as complete when the batch was gathered.
    var completesRequest = true

    /// An inline reply whose header `write` fills in.
    static func inline(length: Int, _ write: (UnsafeMutableRawPointer) -> Void) -> OutgoingReply {
        precondition(length <= 32)
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &storage) { write($0.baseAddress!) }
        return OutgoingReply(body: .inline(storage, length: length))
    }

    /// A reply made of `headerLength` bytes written into the buffer's
    /// headroom, followed by `dataLength` bytes of its data.
    static func pooled(
        _ buffer: PayloadBuffer, headerLength: Int, dataLength: Int, _ write: (UnsafeMutableRawPointer) -> Void
    ) -> OutgoingReply {
        let start = buffer.header(headerLength)
        write(start)
        return OutgoingReply(body: .pooled(buffer, start: UnsafeRawPointer(start), length: headerLength + dataLength))
    }

    static func frame(_ bytes: [UInt8]) -> OutgoingReply { OutgoingReply(body: .frame(bytes)) }

    var length: Int {
        switch body {
        case let .inline(_, length): length
        case let .pooled(_, _, length): length
        case let .frame(bytes): bytes.count
        }
    }

    var buffer: PayloadBuffer? {
        if case let .pooled(buffer, _, _) = body { return buffer }
        return nil
    }

    /// Calls `body` with the bytes not yet sent.
    func withUnsentBytes<R>(_ use: (UnsafeRawBufferPointer) -> R) -> R {
        switch body {
        case let .inline(storage, length):
            return withUnsafeBytes(of: storage) { use(UnsafeRawBufferPointer(rebasing: $0[sent..<length])) }
        case let .pooled(_, start, length):
            return use(UnsafeRawBufferPointer(start: start + sent, count: length - sent))
        case let .frame(bytes):
            return bytes.withUnsafeBytes { use(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
        }
    }
}
