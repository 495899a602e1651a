import BlockDevices
import DeviceLayers
import Synchronization
import Testing

/// The block layer's modules are built with `NonisolatedNonsendingByDefault`
/// (Package.swift, `blockLayer`): a device's operations, and each layer's
/// call to the device below, run on their caller's executor instead of
/// hopping to the generic one. A request's awaits through the layers then
/// cost no executor switch; each switch took the task's status-record lock
/// to look up its executor preference (bench/README.md, "Swift's share of
/// a request": 4 µs of the machine's CPU per replicated 4K write). An
/// actor is the one caller where the difference shows: code that hops off
/// it no longer sees it as its isolation.
@Suite struct CallerExecutorTests {
    /// Records the isolation each read ran in.
    final class IsolationProbe: BlockDevice {
        let size: UInt64 = 1 << 20
        let capabilities = DeviceCapabilities()
        let seen = Mutex<[ObjectIdentifier?]>([])

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
            let isolation = #isolation
            seen.withLock { $0.append(isolation.map { ObjectIdentifier($0) }) }
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
        }

        func flush() async throws(DeviceError) {}
    }

    actor Caller {
        func read(_ device: any BlockDevice) async throws {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
            defer { buffer.deallocate() }
            try await device.read(into: buffer, at: 0)
        }
    }

    @Test func aReadThroughTheEnginesLayersRunsOnItsCallersExecutor() async throws {
        let probe = IsolationProbe()
        let caller = Caller()
        // The stack an export serves: emulation over counting over an offset window.
        let stack = EmulatedDevice(CountingDevice(try OffsetDevice(probe, offset: 4096, length: 65536)))
        try await caller.read(stack)
        #expect(probe.seen.withLock { $0 } == [ObjectIdentifier(caller)])
    }
}
