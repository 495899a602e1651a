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

/// `startWrite` goes through a layer only where the layer passes it on on
/// purpose; every other layer declines, so what it does to writes is never
/// skipped.
@Suite("Layers and writes started without a task")
struct StartedWriteLayerTests {
    @Test func emulationPassesStartedWritesOnButNotAFUAWriteItMustFollowWithAFlush() async throws {
        let starting = TaskStartingDevice(MemoryDevice(size: 1 << 20), fua: .none)
        let device = EmulatedDevice(starting)
        #expect(await device.startedWrite(pattern(4096, seed: 1), at: 0).succeeded)
        guard case .declined = await device.startedWrite(pattern(4096, seed: 2), at: 0, fua: true) else {
            Issue.record("a FUA write over emulated FUA must take `write`, which flushes after it")
            return
        }
        #expect(starting.started.load(ordering: .relaxed) == 1)
        #expect(try await device.read(at: 0, count: 4096) == pattern(4096, seed: 1))

        let native = EmulatedDevice(TaskStartingDevice(MemoryDevice(size: 1 << 20), fua: .native))
        #expect(await native.startedWrite(pattern(4096, seed: 3), at: 0, fua: true).succeeded)
    }

    @Test func emulationAndCountingPassStartedReadsOnAndSaySo() async throws {
        let starting = TaskStartingDevice(MemoryDevice(size: 1 << 20), fua: .native)
        let counting = CountingDevice(starting)
        let device = EmulatedDevice(counting)
        #expect(device.capabilities.startsWithoutTask)
        try await device.write(pattern(4096, seed: 1), at: 8192)
        #expect(await device.startedRead(at: 8192, count: 4096).bytes == pattern(4096, seed: 1))
        #expect(starting.started.load(ordering: .relaxed) == 1)
        #expect(counting.count(.read) == 1)
        #expect(counting.summary.contains("bytes-read=4096"))
    }

    @Test func countingCountsAStartedWriteOnceItEndedWell() async throws {
        let faults = FaultInjectingDevice(MemoryDevice(size: 1 << 20))
        let device = CountingDevice(TaskStartingDevice(faults, fua: .native))
        #expect(await device.startedWrite(pattern(4096, seed: 1), at: 0).succeeded)
        faults.arm(.init([.write], kind: .io, count: 1))
        guard case .ended(let failure?) = await device.startedWrite(pattern(4096, seed: 2), at: 4096) else {
            Issue.record("the armed fault must end the started write with its error")
            return
        }
        #expect(failure.kind == .io)
        #expect(device.count(.write) == 1)
        #expect(device.summary.contains("bytes-written=4096"))
    }

    @Test(arguments: ["offset", "read-only", "fault injector", "delay"])
    func layersThatChangeWritesDecline(layer: String) async throws {
        let starting = TaskStartingDevice(MemoryDevice(size: 1 << 20), fua: .native)
        let device: any BlockDevice =
            switch layer {
            case "offset": try OffsetDevice(starting, offset: 4096, length: 65536)
            case "read-only": ReadOnlyDevice(starting)
            case "fault injector": FaultInjectingDevice(starting)
            default: DelayedDevice(starting, delay: .microseconds(1))
            }
        guard case .declined = await device.startedWrite(pattern(512, seed: 1), at: 0) else {
            Issue.record("\(layer) passed a started write on past itself")
            return
        }
        guard case .declined = await device.startedRead(at: 0, count: 512) else {
            Issue.record("\(layer) passed a started read on past itself")
            return
        }
        #expect(starting.started.load(ordering: .relaxed) == 0)
        #expect(!device.capabilities.startsWithoutTask, "\(layer) says it starts requests it declines")
    }
}
