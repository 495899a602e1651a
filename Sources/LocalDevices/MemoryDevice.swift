public import BlockDevices
import Synchronization

/// A sparse device in memory: storage is allocated in chunks only where data
/// was written, so `memory:1T` costs nothing until used. Trim and zero free
/// whole chunks. Contents vanish with the process; for tests and scratch.
public final class MemoryDevice: BlockDevice {
    public let size: UInt64

    /// Allocation granule: small enough that sparse use stays cheap, large
    /// enough that the chunk table stays small for gigabyte devices.
    static let chunkLength = 64 * 1024

    /// Chunks by index; a missing chunk reads as zeros.
    private let chunks = Mutex<[UInt64: Chunk]>([:])

    public init(size: UInt64) {
        self.size = size
    }

    public var capabilities: DeviceCapabilities {
        // Memory is as durable as it gets here: flush and FUA are no-ops that
        // are nevertheless true. One table serves every connection.
        DeviceCapabilities(
            canFlush: true, fua: .native, canTrim: true, zero: .native, canFastZero: true,
            canBlockStatus: true, isMultiConnSafe: true)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        chunks.withLock { table in
            forEachPiece(offset: offset, length: UInt64(buffer.count)) { index, within, piece, done in
                let target = UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + piece)])
                if let chunk = table[index] {
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk.bytes[within..<(within + piece)]))
                } else {
                    target.initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
        }
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        chunks.withLock { table in
            forEachPiece(offset: offset, length: UInt64(data.count)) { index, within, piece, done in
                let chunk =
                    table[index]
                    ?? {
                        let fresh = Chunk(); table[index] = fresh; return fresh
                    }()
                UnsafeMutableRawBufferPointer(rebasing: chunk.bytes[within..<(within + piece)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: data[done..<(done + piece)]))
            }
        }
    }

    public func flush() async throws(DeviceError) {}

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        clear(offset: offset, length: length)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        // A missing chunk reads as zeros, so zeroing is freeing: always fast.
        clear(offset: offset, length: length)
    }

    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        chunks.withLock { table in
            var extents: [Extent] = []
            forEachPiece(offset: offset, length: length) { index, _, piece, _ in
                let length = UInt64(piece)
                extents.appendMerging(table[index] == nil ? .hole(length) : .data(length))
            }
            return extents
        }
    }

    /// Frees whole chunks in the range and zeroes the partial ones at its ends.
    private func clear(offset: UInt64, length: UInt64) {
        chunks.withLock { table in
            forEachPiece(offset: offset, length: length) { index, within, piece, _ in
                if piece == Self.chunkLength {
                    table[index] = nil
                } else if let chunk = table[index] {
                    UnsafeMutableRawBufferPointer(rebasing: chunk.bytes[within..<(within + piece)])
                        .initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
        }
    }

    /// Calls `body(chunkIndex, offsetWithinChunk, pieceLength, bytesDoneSoFar)`
    /// for each chunk-sized piece of a range.
    private func forEachPiece(
        offset: UInt64, length: UInt64, _ body: (UInt64, Int, Int, Int) -> Void
    ) {
        let chunkLength = UInt64(Self.chunkLength)
        var position = offset
        let end = offset + length
        var done = 0
        while position < end {
            let within = position % chunkLength
            let piece = min(chunkLength - within, end - position)
            body(position / chunkLength, Int(within), Int(piece), done)
            position += piece
            done += Int(piece)
        }
    }
}

/// One zero-filled chunk of memory, freed when dropped from the table.
// Safety: the bytes are only touched while MemoryDevice holds its table's lock.
private final class Chunk: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init() {
        bytes = .allocate(byteCount: MemoryDevice.chunkLength, alignment: 4096)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { bytes.deallocate() }
}
