/// What a replication frame carries. Primary → secondary: hello, the
/// operations, flush, resync and checksum requests. Secondary → primary:
/// helloReply, acknowledgements, checksums, failures. Either: refuse.
public enum FrameType: UInt16, Sendable, CaseIterable {
    case hello = 1
    case helloReply = 2
    case refuse = 3
    case write = 4
    case trim = 5
    case zero = 6
    case flush = 7
    case resyncBegin = 8
    case resyncData = 9
    case resyncDone = 10
    case checksumRequest = 11
    case ack = 12
    case checksumReply = 13
    case failed = 14

    /// Frames that carry data of exactly `length` bytes, checked by CRC-32C.
    var carriesData: Bool { self == .write || self == .resyncData }
    /// Frames whose payload is a small JSON document or text.
    var carriesDocument: Bool { self == .hello || self == .helloReply || self == .refuse || self == .resyncBegin || self == .resyncDone }
    /// Frames that name a byte range of the volume.
    var isRanged: Bool { self == .write || self == .trim || self == .zero || self == .resyncData || self == .checksumRequest }
}

/// The fixed 40-byte header of every replication frame, big-endian:
///
///     0  magic        u32  "BRPL"
///     4  type         u16  FrameType
///     6  flags        u16  FrameFlags
///     8  tag          u64  the write's sequence number, or a request tag
///    16  offset       u64  byte offset in the volume
///    24  length       u32  bytes the operation covers
///    28  checksum     u32  CRC-32C of the data (write, resync, checksum reply)
///    32  payload      u32  bytes that follow the header
///    36  reserved     u32  zero
///
/// An acknowledgement echoes the tag of what it acknowledges, so replies may
/// come in any order and a resent request is recognised.
public struct FrameHeader: Sendable, Equatable {
    public static let magic: UInt32 = 0x4252_504C
    public static let size = 40
    /// The largest payload: one maximal NBD write (32 MiB).
    public static let maxData = 32 << 20
    /// The largest handshake document (a greeting with many dirty ranges).
    public static let maxDocument = 16 << 20

    public var type: FrameType
    public var flags: FrameFlags
    public var tag: UInt64
    public var offset: UInt64
    public var length: UInt32
    public var checksum: UInt32
    public var payloadLength: UInt32

    public init(
        _ type: FrameType, flags: FrameFlags = [], tag: UInt64 = 0, offset: UInt64 = 0, length: UInt32 = 0,
        checksum: UInt32 = 0, payloadLength: UInt32 = 0
    ) {
        self.type = type
        self.flags = flags
        self.tag = tag
        self.offset = offset
        self.length = length
        self.checksum = checksum
        self.payloadLength = payloadLength
    }

    public func encode(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.size)
        func put<T: FixedWidthInteger>(_ value: T, _ at: Int) {
            withUnsafeBytes(of: value.bigEndian) {
                bytes.baseAddress!.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
        }
        put(Self.magic, 0)
        put(type.rawValue, 4)
        put(flags.rawValue, 6)
        put(tag, 8)
        put(offset, 16)
        put(length, 24)
        put(checksum, 28)
        put(payloadLength, 32)
        put(UInt32(0), 36)
    }

    public var encoded: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { encode(into: $0) }
        return bytes
    }

    /// Decodes and checks everything a header alone can show to be wrong.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(ReplicationError) {
        guard bytes.count >= Self.size else { throw .malformed("short header: \(bytes.count) bytes") }
        func load<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            var value: T = 0
            for index in 0..<MemoryLayout<T>.size { value = value << 8 | T(bytes[at + index]) }
            return value
        }
        let magic = load(0, UInt32.self)
        guard magic == Self.magic else {
            // A TLS record (handshake 0x16 or alert 0x15, version 3.x): the
            // peer has --peer-psk or --peer-certificates and this node has not.
            if magic >> 24 == 0x16 || magic >> 24 == 0x15, magic >> 16 & 0xFF == 0x03 {
                throw .malformed(
                    "the peer speaks TLS: it has --peer-psk or --peer-certificates and this node has neither; give both nodes the same")
            }
            throw .malformed("bad magic 0x\(String(magic, radix: 16)); is this a buse replication peer?")
        }
        let rawType = load(4, UInt16.self)
        guard let type = FrameType(rawValue: rawType) else { throw .malformed("unknown frame type \(rawType)") }
        let rawFlags = load(6, UInt16.self)
        let flags = FrameFlags(rawValue: rawFlags)
        guard FrameFlags.all.isSuperset(of: flags) else { throw .malformed("unknown flags 0x\(String(rawFlags, radix: 16))") }
        guard load(36, UInt32.self) == 0 else { throw .malformed("reserved field is not zero") }
        self.init(
            type, flags: flags, tag: load(8, UInt64.self), offset: load(16, UInt64.self), length: load(24, UInt32.self),
            checksum: load(28, UInt32.self), payloadLength: load(32, UInt32.self))
        if type.carriesData {
            guard Int(payloadLength) == Int(length) else { throw .malformed("\(type) of \(length) bytes carries \(payloadLength)") }
            guard length > 0, Int(length) <= Self.maxData else { throw .malformed("\(type) length \(length) is out of bounds") }
        } else if type.carriesDocument || type == .failed {
            guard Int(payloadLength) <= Self.maxDocument else { throw .malformed("\(type) document of \(payloadLength) bytes is too long") }
        } else {
            guard payloadLength == 0 else { throw .malformed("\(type) must carry no payload, has \(payloadLength) bytes") }
        }
        if type.isRanged && type != .checksumRequest && length == 0 { throw .malformed("\(type) of zero bytes") }
    }
}

public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The write must be durable on the peer before it is acknowledged.
    public static let fua = FrameFlags(rawValue: 1 << 0)
    /// Zero without deallocating (NBD_CMD_FLAG_NO_HOLE).
    public static let noHole = FrameFlags(rawValue: 1 << 1)
    static let all: FrameFlags = [.fua, .noHole]
}
