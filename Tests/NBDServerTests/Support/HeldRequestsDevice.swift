import BlockDevices
import Foundation

/// A device whose reads and writes end on the test's thread, as a RADOS
/// image's end on librados' callback thread: `startRead` and `startWrite`
/// hold each one until the test ends it, with success or an error. Requests
/// at `declined` offsets are declined and go through `read` or `write`,
/// which count them. A write's bytes are copied in, and a read's copied out,
/// only when the test ends it, so a server that let go of the buffer early
/// would store or send garbage.
// Safety: every stored var is read and written only with `condition` locked.
final class HeldRequestsDevice: BlockDevice, @unchecked Sendable {
    private enum Held {
        case read(UnsafeMutableRawBufferPointer)
        case write(UnsafeRawBufferPointer)
    }

    let size: UInt64
    let declined: Set<UInt64>
    private let startsWithoutTask: Bool
    private let condition = NSCondition()
    private var bytes: [UInt8]
    private var held: [(offset: UInt64, request: Held, whenDone: @Sendable (DeviceError?) -> Void)] = []
    private var started = 0
    private var servedByTask = 0
    private var offeredAgainstCapabilities = 0

    /// - Parameter startsWithoutTask: what the capabilities say; false makes
    ///   this a device the engine must not offer requests to at all.
    init(size: Int, declined: Set<UInt64> = [], startsWithoutTask: Bool = true) {
        self.size = UInt64(size)
        self.declined = declined
        self.startsWithoutTask = startsWithoutTask
        bytes = [UInt8](repeating: 0, count: size)
    }

    var capabilities: DeviceCapabilities { DeviceCapabilities(fua: .native, startsWithoutTask: startsWithoutTask) }

    /// How many requests were started, and how many took `read` or `write` instead.
    var counts: (started: Int, servedByTask: Int) { locked { (started, servedByTask) } }

    /// Requests offered to `startRead` or `startWrite` while the
    /// capabilities said this device starts none (each declined).
    var offersAgainstCapabilities: Int { locked { offeredAgainstCapabilities } }

    func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        hold(offset, .read(buffer), whenDone)
    }

    func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        hold(offset, .write(data), whenDone)
    }

    private func hold(_ offset: UInt64, _ request: Held, _ whenDone: @escaping @Sendable (DeviceError?) -> Void) -> Bool {
        guard startsWithoutTask else {
            locked { offeredAgainstCapabilities += 1 }
            return false
        }
        guard !declined.contains(offset) else { return false }
        locked {
            held.append((offset, request, whenDone))
            started += 1
            condition.broadcast()
        }
        return true
    }

    /// Blocks the test's thread until `count` requests are held, for at most
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

    /// Ends the held request at `offset` here, on the caller's thread: a
    /// write stores its bytes and a read fills its buffer, unless it fails.
    /// False if none is held there.
    @discardableResult
    func end(offset: UInt64, failure: DeviceError? = nil) -> Bool {
        let whenDone: (@Sendable (DeviceError?) -> Void)? = locked {
            guard let index = held.firstIndex(where: { $0.offset == offset }) else { return nil }
            let request = held.remove(at: index)
            if failure == nil {
                switch request.request {
                case let .read(buffer): copy(into: buffer, at: offset)
                case let .write(data): store(data, at: offset)
                }
            }
            return request.whenDone
        }
        whenDone?(failure)
        return whenDone != nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        locked {
            copy(into: buffer, at: offset)
            servedByTask += 1
        }
    }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        locked {
            store(data, at: offset)
            servedByTask += 1
        }
    }

    func flush() async throws(DeviceError) {}

    private func copy(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) {
        buffer.copyBytes(from: bytes[Int(offset)..<(Int(offset) + buffer.count)])
    }

    private func store(_ data: UnsafeRawBufferPointer, at offset: UInt64) {
        bytes.replaceSubrange(Int(offset)..<(Int(offset) + data.count), with: data)
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }
}
