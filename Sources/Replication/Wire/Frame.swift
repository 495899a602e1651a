import Synchronization

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

    /// Large payloads come from (and go back to) a pool: a fresh 1 MiB
    /// allocation per frame cost a page fault per 4 KiB (measured: 40% of a
    /// replica's CPU during resync).
    public init(count: Int) {
        bytes = count >= PayloadPool.smallest ? PayloadPool.shared.take(count) : UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 4096)
        storageCount = count
    }

    private let storageCount: Int

    public convenience init(copying array: [UInt8]) {
        self.init(count: array.count)
        array.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    /// The payload's bytes (the allocation may be larger).
    public var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[..<storageCount]) }
    public var array: [UInt8] { Array(readable) }

    deinit {
        if storageCount >= PayloadPool.smallest { PayloadPool.shared.give(bytes) } else { bytes.deallocate() }
    }
}

/// Buffers of power-of-two sizes from 64 KiB, kept for reuse up to 64 MiB in all.
final class PayloadPool: Sendable {
    static let shared = PayloadPool()
    static let smallest = 64 << 10
    static let keptBytes = 64 << 20

    /// Safety: a buffer in the pool belongs to no one until taken.
    private struct Owned: @unchecked Sendable { let buffer: UnsafeMutableRawBufferPointer }
    private let free = Mutex<(buffers: [Int: [Owned]], bytes: Int)>(([:], 0))

    static func sizeClass(_ count: Int) -> Int {
        var size = smallest
        while size < count { size <<= 1 }
        return size
    }

    func take(_ count: Int) -> UnsafeMutableRawBufferPointer {
        let size = Self.sizeClass(count)
        let reused = free.withLock { free -> Owned? in
            guard let owned = free.buffers[size]?.popLast() else { return nil }
            free.bytes -= size
            return owned
        }
        return reused?.buffer ?? UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
    }

    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        let owned = Owned(buffer: buffer)
        let kept = free.withLock { free -> Bool in
            guard free.bytes + buffer.count <= Self.keptBytes else { return false }
            free.buffers[buffer.count, default: []].append(owned)
            free.bytes += buffer.count
            return true
        }
        if !kept { buffer.deallocate() }
    }
}
