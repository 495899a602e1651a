import BlockDevices
import DeviceLayers
import LocalDevices
import TestSupport
import Testing

@Suite("Layers")
struct LayerTests {
    @Test func emulationAdvertisesZeroAndFUAOverAPlainDevice() {
        let capabilities = EmulatedDevice(RestrictedDevice(MemoryDevice(size: 1 << 20))).capabilities
        #expect(capabilities.zero == .emulated)
        #expect(capabilities.fua == .emulated)
        #expect(!capabilities.canFastZero)
    }

    @Test func emulatedFastZeroIsRefusedWithoutTouchingData() async throws {
        let device = EmulatedDevice(RestrictedDevice(MemoryDevice(size: 1 << 20)))
        try await device.write(pattern(4096, seed: 1), at: 0)
        await #expect(throws: DeviceError.self) {
            try await device.zero(at: 0, length: 4096, options: .fastOnly)
        }
        #expect(try await device.read(at: 0, count: 4096) == pattern(4096, seed: 1))
    }

    @Test func readOnlyLayerRefusesEveryWriteWithPermission() async throws {
        let device = ReadOnlyDevice(MemoryDevice(size: 1 << 20))
        #expect(device.capabilities.isReadOnly)
        await expectPermissionDenied { () async throws(DeviceError) in try await device.write([1], at: 0) }
        await expectPermissionDenied { () async throws(DeviceError) in try await device.trim(at: 0, length: 1, fua: false) }
        await expectPermissionDenied { () async throws(DeviceError) in try await device.zero(at: 0, length: 1, options: []) }
    }

    private func expectPermissionDenied(_ attempt: () async throws(DeviceError) -> Void) async {
        do {
            try await attempt()
            Issue.record("a read-only device accepted a write")
        } catch {
            #expect(error.kind == .permission)
        }
    }

    @Test func offsetWindowMustFitTheDeviceBelow() {
        #expect(throws: OffsetDevice.SetupError.self) {
            try OffsetDevice(MemoryDevice(size: 1000), offset: 500, length: 501)
        }
    }

    @Test func offsetWindowWritesLandShifted() async throws {
        let memory = MemoryDevice(size: 1 << 20)
        let window = try OffsetDevice(memory, offset: 4096, length: 8192)
        try await window.write(pattern(100, seed: 2), at: 0)
        #expect(try await memory.read(at: 4096, count: 100) == pattern(100, seed: 2))
    }

    @Test func faultsFireTheirCountThenStop() async throws {
        let device = FaultInjectingDevice(MemoryDevice(size: 1 << 20))
        device.arm(.init([.write], kind: .noSpace, range: 0..<4096, count: 2))
        for _ in 0..<2 {
            do {
                try await device.write([1], at: 100)
                Issue.record("the armed fault did not fire")
            } catch {
                #expect(error.kind == .noSpace)
            }
        }
        try await device.write([1], at: 100)
        try await device.write([1], at: 8192)  // outside the range: never failed
        #expect(device.injectedCount == 2)
    }
}
