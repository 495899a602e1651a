import BlockDevices
import TestSupport
import Testing

/// A device implements only what its capabilities promise; the protocol's
/// defaults refuse the rest with the error the engine gives for it.
@Suite struct BlockDeviceDefaultsTests {
    /// The least a read-only device needs: size, capabilities, read, flush.
    struct ZerosDevice: BlockDevice {
        let size: UInt64 = 1 << 20
        let capabilities: DeviceCapabilities

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
        }

        func flush() async throws(DeviceError) {}
    }

    @Test func aReadOnlyDeviceRefusesWritesTrimsAndZeroesWithPermission() async {
        let device = ZerosDevice(capabilities: DeviceCapabilities(isReadOnly: true))
        #expect(await refusal { try await device.write([1], at: 0) } == .permission)
        #expect(await refusal { try await device.trim(at: 0, length: 512, fua: false) } == .permission)
        #expect(await refusal { try await device.zero(at: 0, length: 512, options: []) } == .permission)
    }

    @Test func aWritableDeviceWithoutTrimOrZeroRefusesThemAsNotSupported() async {
        let device = ZerosDevice(capabilities: DeviceCapabilities())
        #expect(await refusal { try await device.trim(at: 0, length: 512, fua: false) } == .notSupported)
        #expect(await refusal { try await device.zero(at: 0, length: 512, options: []) } == .notSupported)
    }

    /// The kind of error `body` was refused with; nil if it succeeded.
    private func refusal(_ body: () async throws -> Void) async -> DeviceError.Kind? {
        do {
            try await body()
            return nil
        } catch {
            return (error as? DeviceError)?.kind
        }
    }
}
