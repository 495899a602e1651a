import BlockDevices
import DeviceLayers
import Foundation
import TestSupport

/// Holds chosen operations until the test lets them go, so a test can know,
/// without timing, that requests are in flight at once and can finish them
/// in any order it likes.
// Safety: every stored var is read and written only with `condition` locked.
final class GateDevice: DeviceLayer, @unchecked Sendable {
    let lower: any BlockDevice
    let held: Set<DeviceOperation>
    private let condition = NSCondition()
    private var waiting: [(offset: UInt64, resume: CheckedContinuation<Void, Never>)] = []
    private var isOpen = false

    init(_ lower: any BlockDevice, holding held: Set<DeviceOperation>) {
        self.lower = lower
        self.held = held
    }

    /// Blocks a test thread until `count` operations are held, for at most
    /// `seconds`; false if they never arrive.
    func waitUntilHolding(_ count: Int, seconds: Double = 10) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: seconds)
        while waiting.count < count {
            if !condition.wait(until: deadline) { return waiting.count >= count }
        }
        return true
    }

    /// Lets the held operation at `offset` continue; false if none is held there.
    @discardableResult
    func release(offset: UInt64) -> Bool {
        condition.lock()
        let index = waiting.firstIndex { $0.offset == offset }
        let released = index.map { waiting.remove(at: $0) }
        condition.unlock()
        released?.resume.resume()
        return released != nil
    }

    /// Lets every held operation continue, and every later one pass.
    func open() {
        condition.lock()
        isOpen = true
        let released = waiting
        waiting.removeAll()
        condition.unlock()
        for operation in released { operation.resume.resume() }
    }

    private func pass(_ operation: DeviceOperation, _ offset: UInt64) async {
        guard held.contains(operation) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if isOpen {
                condition.unlock()
                continuation.resume()
                return
            }
            waiting.append((offset, continuation))
            condition.broadcast()
            condition.unlock()
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        await pass(.read, offset)
        try await lower.read(into: buffer, at: offset)
    }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        await pass(.write, offset)
        try await lower.write(data, at: offset, fua: fua)
    }

    func flush() async throws(DeviceError) {
        await pass(.flush, 0)
        try await lower.flush()
    }
}
