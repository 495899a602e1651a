import Sockets

/// A received frame: its header and its payload (data or document).
public struct Frame: Sendable {
    public var header: FrameHeader
    public var payload: FramePayload

    public init(_ header: FrameHeader, payload: FramePayload = .empty) {
        self.header = header
        self.payload = payload
    }

    /// A frame with a document payload (greetings, refusals, resync states).
    public static func document(_ type: FrameType, tag: UInt64 = 0, _ bytes: [UInt8]) -> Frame {
        Frame(FrameHeader(type, tag: tag, payloadLength: UInt32(bytes.count)), payload: FramePayload(copying: bytes))
    }

    /// Text of a refuse or failed frame, for the log.
    public var text: String { String(decoding: payload.readable, as: UTF8.self) }
}

/// A frame's payload in memory it owns, so a write can be applied across
/// suspension points straight from the bytes the socket delivered (no copy).
public final class FramePayload: @unchecked Sendable {
    // Safety: written once by the receiving thread before the frame is
    // handed on, then only read.
    public let bytes: UnsafeMutableRawBufferPointer
    private let pooled: PayloadBuffer?
    private let storageCount: Int

    public static let empty = FramePayload(count: 0)

    /// Large payloads come from (and go back to) a pool, the one the NBD
    /// server uses, so steady resync and replicated 1 MiB writes allocate
    /// nothing; small ones are cheap for malloc to recycle itself.
    static let pool = BufferPool(retainedPerClass: 16, retainedBytesMaximum: 64 << 20)
    static let pooledLengthMinimum = 64 << 10

    public init(count: Int) {
        if count >= Self.pooledLengthMinimum && count <= BufferPool.lengthMaximum {
            let buffer = Self.pool.take(count)
            pooled = buffer
            bytes = buffer.data
        } else {
            pooled = nil
            bytes = .allocate(byteCount: max(count, 1), alignment: 4096)
        }
        storageCount = count
    }

    public convenience init(copying array: [UInt8]) {
        self.init(count: array.count)
        array.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    /// The payload's bytes (the allocation may be larger).
    public var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[..<storageCount]) }
    public var array: [UInt8] { Array(readable) }

    deinit {
        if let pooled { Self.pool.release(pooled) } else { bytes.deallocate() }
    }
}
