/// Encoders for transmission reply headers, writing into caller-provided
/// memory so the hot path allocates nothing.
public enum ReplyHeader {
    /// Length of a simple reply header: magic, error, cookie.
    public static let simpleLength = 16
    /// Length of a structured reply chunk header: magic, flags, type, cookie, length.
    public static let structuredLength = 20

    /// NBD_SIMPLE_REPLY_MAGIC, error, cookie. For a successful READ the data follows.
    @inlinable
    public static func writeSimple(into buffer: UnsafeMutableRawPointer, cookie: UInt64, error: ErrorCode) {
        buffer.storeBigEndian(Magic.simpleReply, at: 0)
        buffer.storeBigEndian(error.rawValue, at: 4)
        buffer.storeBigEndian(cookie, at: 8)
    }

    /// A structured chunk header; `length` counts the chunk's payload.
    @inlinable
    public static func writeStructured(
        into buffer: UnsafeMutableRawPointer, cookie: UInt64, type: ReplyChunkType, done: Bool, length: UInt32
    ) {
        buffer.storeBigEndian(Magic.structuredReply, at: 0)
        buffer.storeBigEndian(done ? replyFlagDone : 0, at: 4)
        buffer.storeBigEndian(type.rawValue, at: 6)
        buffer.storeBigEndian(cookie, at: 8)
        buffer.storeBigEndian(length, at: 16)
    }

    /// The header of a one-chunk READ reply (OFFSET_DATA with DONE) plus its
    /// 8-byte offset: 28 bytes, followed on the wire by the data.
    public static let offsetDataLength = structuredLength + 8

    @inlinable
    public static func writeOffsetData(
        into buffer: UnsafeMutableRawPointer, cookie: UInt64, offset: UInt64, dataLength: UInt32
    ) {
        writeStructured(into: buffer, cookie: cookie, type: .offsetData, done: true, length: dataLength + 8)
        buffer.storeBigEndian(offset, at: structuredLength)
    }

    /// A whole OFFSET_HOLE chunk with DONE: the range reads as zeros.
    public static let offsetHoleLength = structuredLength + 12

    @inlinable
    public static func writeOffsetHole(
        into buffer: UnsafeMutableRawPointer, cookie: UInt64, offset: UInt64, holeLength: UInt32
    ) {
        writeStructured(into: buffer, cookie: cookie, type: .offsetHole, done: true, length: 12)
        buffer.storeBigEndian(offset, at: structuredLength)
        buffer.storeBigEndian(holeLength, at: structuredLength + 8)
    }

    /// A whole structured ERROR chunk with DONE and a message for the client's log.
    public static func structuredError(cookie: UInt64, error: ErrorCode, message: String) -> [UInt8] {
        let text = Array(message.utf8.prefix(4096))
        var writer = WireWriter(capacity: structuredLength + 6 + text.count)
        writer.append(Magic.structuredReply)
        writer.append(replyFlagDone)
        writer.append(ReplyChunkType.error.rawValue)
        writer.append(cookie)
        writer.append(UInt32(6 + text.count))
        writer.append(error.rawValue)
        writer.append(UInt16(text.count))
        writer.append(text)
        return writer.bytes
    }

    /// A whole BLOCK_STATUS chunk with DONE for `base:allocation`.
    public static func blockStatus(cookie: UInt64, contextID: UInt32, descriptors: [(length: UInt32, flags: UInt32)]) -> [UInt8] {
        let payload = 4 + 8 * descriptors.count
        var writer = WireWriter(capacity: structuredLength + payload)
        writer.append(Magic.structuredReply)
        writer.append(replyFlagDone)
        writer.append(ReplyChunkType.blockStatus.rawValue)
        writer.append(cookie)
        writer.append(UInt32(payload))
        writer.append(contextID)
        for descriptor in descriptors {
            writer.append(descriptor.length)
            writer.append(descriptor.flags)
        }
        return writer.bytes
    }
}
