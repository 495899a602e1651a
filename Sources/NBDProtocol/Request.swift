/// A transmission request header (28 bytes on the wire), decoded but not yet
/// validated: the command may be unknown and the range out of bounds.
public struct Request: Sendable, Equatable {
    /// The raw command type; ``command`` is nil for values the spec does not define.
    public var type: UInt16
    public var flags: CommandFlags
    /// The client's opaque handle ("cookie"), echoed in the reply.
    public var cookie: UInt64
    public var offset: UInt64
    public var length: UInt32

    public init(type: UInt16, flags: CommandFlags, cookie: UInt64, offset: UInt64, length: UInt32) {
        self.type = type
        self.flags = flags
        self.cookie = cookie
        self.offset = offset
        self.length = length
    }

    public init(_ command: Command, flags: CommandFlags = [], cookie: UInt64, offset: UInt64 = 0, length: UInt32 = 0) {
        self.init(type: command.rawValue, flags: flags, cookie: cookie, offset: offset, length: length)
    }

    public var command: Command? { Command(rawValue: type) }

    /// Whether a payload of `length` bytes follows the header on the wire.
    public var hasPayload: Bool { type == Command.write.rawValue }

    public enum DecodeError: Error, Equatable {
        case badMagic(UInt32)
    }

    /// Decodes a header from exactly ``ProtocolLimits/requestHeaderLength`` bytes.
    @inlinable
    public static func decode(_ header: UnsafeRawPointer) throws(DecodeError) -> Request {
        let magic = header.loadBigEndian(at: 0, as: UInt32.self)
        guard magic == Magic.request else { throw .badMagic(magic) }
        return Request(
            type: header.loadBigEndian(at: 6, as: UInt16.self),
            flags: CommandFlags(rawValue: header.loadBigEndian(at: 4, as: UInt16.self)),
            cookie: header.loadBigEndian(at: 8, as: UInt64.self),
            offset: header.loadBigEndian(at: 16, as: UInt64.self),
            length: header.loadBigEndian(at: 24, as: UInt32.self))
    }

    /// Encodes the header as a client sends it (tests and the replication link).
    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: ProtocolLimits.requestHeaderLength)
        writer.append(Magic.request)
        writer.append(flags.rawValue)
        writer.append(type)
        writer.append(cookie)
        writer.append(offset)
        writer.append(length)
        return writer.bytes
    }
}
