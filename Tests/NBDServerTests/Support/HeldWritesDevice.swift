import BlockDevices
import Foundation

/// A device whose writes end on the test's thread, as a RADOS image's end on
/// librados' callback thread: `startWrite` holds each one until the test
/// ends it, with success or an error. Writes at `declined` offsets are
/// declined and go through `write`, which counts them. Its bytes are copied
/// in only when a write ends, so a server that let go of the buffer early
/// would store garbage.
// Safety: every stored var is read and written only with `condition` locked.
final class HeldWritesDevice: BlockDevice, @unchecked Sendable {
    let size: UInt64
    let declined: Set<UInt64>
    private let condition = NSCondition()
    private var bytes: [UInt8]
    private var held: [(offset: UInt64, data: UnsafeRawBufferPointer, whenDone: @Sendable (DeviceError?) -> Void)] = []
    private var started = 0
    private var writtenByTask = 0

    init(size: Int, declined: Set<UInt64> = []) {
        self.size = UInt64(size)
        self.declined = declined
        bytes = [UInt8](repeating: 0, count: size)
    }

    var capabilities: DeviceCapabilities { DeviceCapabilities(fua: .native) }

    /// How many writes were started, and how many took `write` instead.
    var counts: (started: Int, writtenByTask: Int) { locked { (started, writtenByTask) } }

    func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        guard !declined.contains(offset) else { return false }
        locked {
            held.append((offset, data, whenDone))
            started += 1
            condition.broadcast()
        }
        return true
    }

    /// Blocks the test's thread until `count` writes are held, for at most
    /// `seconds`; false if they never arrive.
    func waitUntilHolding(_ count: Int, seconds: Double = 30) -> Bool {
        locked {
            let deadline = Date(timeIntervalSinceNow: seconds)
            while held.count < count {
                if !condition.wait(until: deadline) { return held.count >= count }
            }
            return true
        }
    }

    /// Ends the held write at `offset` here, on the caller's thread: stores
    /// its bytes unless it fails. False if none is held there.
    @discardableResult
    func end(offset: UInt64, failure: DeviceError? = nil) -> Bool {
        let write: (offset: UInt64, data: UnsafeRawBufferPointer, whenDone: @Sendable (DeviceError?) -> Void)? = locked {
            guard let index = held.firstIndex(where: { $0.offset == offset }) else { return nil }
            let write = held.remove(at: index)
            if failure == nil { store(write.data, at: offset) }
            return write
        }
        write?.whenDone(failure)
        return write != nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        locked { buffer.copyBytes(from: bytes[Int(offset)..<(Int(offset) + buffer.count)]) }
    }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        locked {
            store(data, at: offset)
            writtenByTask += 1
        }
    }

    func flush() async throws(DeviceError) {}

    private func store(_ data: UnsafeRawBufferPointer, at offset: UInt64) {
        bytes.replaceSubrange(Int(offset)..<(Int(offset) + data.count), with: data)
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }
}
