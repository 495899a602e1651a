import BlockDevices
import DeviceLayers
import Synchronization

/// A layer whose reads and writes can start without the caller's task, as
/// RADOS's can: `startRead` and `startWrite` hand the request to a task of
/// its own and call back from there, on another thread, after returning.
/// Counts how many it started, so a test sees which path a request took.
final class TaskStartingDevice: DeviceLayer {
    let lower: any BlockDevice
    private let fua: DeviceCapabilities.Support
    let started = Atomic<Int>(0)

    /// - Parameter fua: what this device says of FUA (the emulation layer
    ///   decides by it whether a FUA write may start here).
    init(_ lower: any BlockDevice, fua: DeviceCapabilities.Support) {
        self.lower = lower
        self.fua = fua
    }

    var capabilities: DeviceCapabilities {
        var capabilities = lower.capabilities
        capabilities.fua = fua
        capabilities.startsWithoutTask = true
        return capabilities
    }

    func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        // Safety: the caller keeps the buffer until `whenDone`.
        nonisolated(unsafe) let buffer = buffer
        return onOwnTask(whenDone) { [lower] () async throws(DeviceError) in try await lower.read(into: buffer, at: offset) }
    }

    func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        // Safety: the caller keeps the buffer until `whenDone`.
        nonisolated(unsafe) let data = data
        return onOwnTask(whenDone) { [lower] () async throws(DeviceError) in try await lower.write(data, at: offset, fua: fua) }
    }

    /// Counts the request as started and runs it on a task of its own,
    /// which reports its end to `whenDone`.
    private func onOwnTask(
        _ whenDone: @escaping @Sendable (DeviceError?) -> Void,
        _ operation: @escaping @Sendable () async throws(DeviceError) -> Void
    ) -> Bool {
        started.add(1, ordering: .relaxed)
        Task {
            do throws(DeviceError) {
                try await operation()
                whenDone(nil)
            } catch {
                whenDone(error)
            }
        }
        return true
    }
}
