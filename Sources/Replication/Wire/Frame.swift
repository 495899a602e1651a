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

    public static let empty = FramePayload(count: 0)

    public init(count: Int) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 4096)
        if count == 0 { storageCount = 0 } else { storageCount = count }
    }

    private let storageCount: Int

    public convenience init(copying array: [UInt8]) {
        self.init(count: array.count)
        array.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    /// The payload's bytes (the allocation may be larger).
    public var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[..<storageCount]) }
    public var array: [UInt8] { Array(readable) }

    deinit { bytes.deallocate() }
}
