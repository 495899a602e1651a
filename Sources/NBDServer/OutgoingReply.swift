import Sockets

/// One reply ready for the wire, always a single contiguous run of bytes,
/// that completes one request:
/// - `inline`: a header of up to 32 bytes with no payload (acknowledgements),
///   kept in the value itself so the hot path allocates nothing;
/// - `pooled`: a range of a payload buffer (a READ's header and data, or a
///   WRITE's acknowledgement written into the buffer's headroom), which the
///   writer gives back to the connection's pool once it has left;
/// - `frame`: a whole prebuilt frame from the cold path (errors, block status).
typealias OutgoingReply = Outgoing

extension Outgoing {
    /// An inline reply whose header `write` fills in.
    static func inline(length: Int, _ write: (UnsafeMutableRawPointer) -> Void) -> Outgoing {
        precondition(length <= 32)
        var reply = Outgoing(headLength: length, write)
        reply.completedRequests = 1
        return reply
    }

    /// A reply made of `headerLength` bytes written into the buffer's
    /// headroom, followed by `dataLength` bytes of its data.
    static func pooled(
        _ buffer: PayloadBuffer, headerLength: Int, dataLength: Int, _ write: (UnsafeMutableRawPointer) -> Void
    ) -> Outgoing {
        let start = buffer.header(headerLength)
        write(start)
        var reply = Outgoing(pooled: buffer, start: UnsafeRawPointer(start), length: headerLength + dataLength)
        reply.completedRequests = 1
        return reply
    }

    static func frame(_ bytes: [UInt8]) -> Outgoing {
        var reply = bytes.withUnsafeBytes { Outgoing(copying: $0) }
        reply.completedRequests = 1
        return reply
    }
}
