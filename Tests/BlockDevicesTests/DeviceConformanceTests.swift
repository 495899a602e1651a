import BlockDevices
import DeviceLayers
import TestSupport
import Testing

/// What every device and every layer stack must do. The engine has already
/// validated ranges and flags, so these cases stay inside the device.
@Suite("Device conformance", .serialized)
struct DeviceConformanceTests {
    /// Not a multiple of any block or chunk size, so edges are exercised.
    static let size: UInt64 = 4 * 1024 * 1024 + 12345

    @Test("reads return what was written", arguments: DeviceFixture.all)
    func readReturnsWhatWasWritten(_ fixture: DeviceFixture) async throws {
        let device = try fixture.make(Self.size)
        let spots: [(UInt64, Int)] = [(0, 4096), (5000, 70000), (1 << 20, 1 << 20), (Self.size - 777, 777)]
        for (index, (offset, count)) in spots.enumerated() {
            try await device.write(pattern(count, seed: UInt64(index)), at: offset)
        }
        for (index, (offset, count)) in spots.enumerated() {
            #expect(try await device.read(at: offset, count: count) == pattern(count, seed: UInt64(index)))
        }
        try await device.close()
    }

    @Test("regions never written read as zeros", arguments: DeviceFixture.all)
    func unwrittenRegionsReadAsZeros(_ fixture: DeviceFixture) async throws {
        let device = try fixture.make(Self.size)
        try await device.write(pattern(100, seed: 1), at: 200_000)
        #expect(try await device.read(at: 0, count: 200_000) == [UInt8](repeating: 0, count: 200_000))
        #expect(try await device.read(at: 200_100, count: 65536) == [UInt8](repeating: 0, count: 65536))
    }

    @Test("the last byte is addressable", arguments: DeviceFixture.all)
    func lastByteIsAddressable(_ fixture: DeviceFixture) async throws {
        let device = try fixture.make(Self.size)
        #expect(device.size == Self.size)
        try await device.write([0x5A], at: Self.size - 1)
        #expect(try await device.read(at: Self.size - 2, count: 2) == [0, 0x5A])
    }

    @Test("zero clears exactly its range, with and without holes", arguments: DeviceFixture.all)
    func zeroLeavesNeighboursIntact(_ fixture: DeviceFixture) async throws {
        let device = EmulatedDevice(try fixture.make(Self.size))
        for (round, options) in [ZeroOptions.mayTrim, [], [.mayTrim, .fua]].enumerated() {
            let data = pattern(300_000, seed: UInt64(10 + round))
            try await device.write(data, at: 100_000)
            try await device.zero(at: 150_001, length: 131_073, options: options)
            let back = try await device.read(at: 100_000, count: 300_000)
            #expect(Array(back[..<50_001]) == Array(data[..<50_001]))
            #expect(Array(back[50_001..<181_074]) == [UInt8](repeating: 0, count: 131_073))
            #expect(Array(back[181_074...]) == Array(data[181_074...]))
        }
    }

    @Test("trim leaves its neighbours intact", arguments: DeviceFixture.all)
    func trimLeavesNeighboursIntact(_ fixture: DeviceFixture) async throws {
        let device = EmulatedDevice(try fixture.make(Self.size))
        let data = pattern(400_000, seed: 3)
        try await device.write(data, at: 0)
        try await device.trim(at: 65_536, length: 196_608, fua: false)
        let back = try await device.read(at: 0, count: 400_000)
        #expect(Array(back[..<65_536]) == Array(data[..<65_536]))
        #expect(Array(back[262_144...]) == Array(data[262_144...]))
    }

    @Test("FUA writes and flushes succeed and keep data", arguments: DeviceFixture.all)
    func fuaAndFlushKeepData(_ fixture: DeviceFixture) async throws {
        let device = EmulatedDevice(try fixture.make(Self.size))
        try await device.write(pattern(8192, seed: 4), at: 4096, fua: true)
        try await device.flush()
        #expect(try await device.read(at: 4096, count: 8192) == pattern(8192, seed: 4))
    }

    @Test("a fast zero either zeroes or refuses at once with notSupported", arguments: DeviceFixture.all)
    func fastZeroZeroesOrRefuses(_ fixture: DeviceFixture) async throws {
        let device = EmulatedDevice(try fixture.make(Self.size))
        try await device.write(pattern(65536, seed: 5), at: 0)
        do {
            try await device.zero(at: 0, length: 65536, options: [.fastOnly, .mayTrim])
            #expect(device.capabilities.canFastZero)
            #expect(try await device.read(at: 0, count: 65536) == [UInt8](repeating: 0, count: 65536))
        } catch {
            #expect(error.kind == .notSupported)
            #expect(!device.capabilities.canFastZero)
            #expect(try await device.read(at: 0, count: 65536) == pattern(65536, seed: 5))
        }
    }

    @Test("block status extents start at the offset and add up", arguments: DeviceFixture.all)
    func blockStatusExtentsAddUp(_ fixture: DeviceFixture) async throws {
        let device = EmulatedDevice(try fixture.make(Self.size))
        try await device.write(pattern(131_072, seed: 6), at: 1 << 20)
        try await device.zero(at: 2 << 20, length: 1 << 20, options: .mayTrim)
        var position: UInt64 = 0
        while position < Self.size {
            let extents = try await device.blockStatus(at: position, length: Self.size - position)
            let covered = extents.reduce(0) { $0 + $1.length }
            #expect(!extents.isEmpty && covered > 0 && covered <= Self.size - position)
            var start = position
            for extent in extents {
                let end = start + extent.length
                if extent.flags.contains(.hole) {
                    // Each hole reads as zeros at its own offset, and data
                    // that was written is never reported as a hole.
                    let bytes = try await device.read(at: start, count: Int(min(extent.length, 1 << 20)))
                    #expect(bytes.allSatisfy { $0 == 0 }, "the hole at \(start) must read as zeros")
                    #expect(end <= 1 << 20 || start >= (1 << 20) + 131_072, "written data reported as a hole at \(start)")
                }
                start = end
            }
            position += covered
        }
        if device.capabilities.canBlockStatus {
            let zeroed = try await device.blockStatus(at: 2 << 20, length: 1 << 20)
            #expect(zeroed.first?.flags.contains(.zero) == true, "a trimmed zero reads back as a zero extent")
        }
    }

    @Test("concurrent disjoint writes all land", arguments: DeviceFixture.all)
    func concurrentDisjointWritesAllLand(_ fixture: DeviceFixture) async throws {
        let device = try fixture.make(Self.size)
        let count = 64
        let piece = 60_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask { try await device.write(pattern(piece, seed: UInt64(100 + index)), at: UInt64(index * piece)) }
            }
            try await group.waitForAll()
        }
        for index in 0..<count {
            #expect(try await device.read(at: UInt64(index * piece), count: piece) == pattern(piece, seed: UInt64(100 + index)))
        }
    }
}

extension DeviceConformanceTests {
    /// `startWrite` is the same write without a task: a device either
    /// declines it (writing nothing, calling nothing) or writes exactly what
    /// `write` would and ends it once. Each spot is written twice, so a
    /// device that declines an object's first write (RADOS, which must
    /// store the object's existence first) is offered one it can start.
    @Test("a write started without a task lands as a write does", arguments: DeviceFixture.all)
    func startedWritesLandAsWritesDo(_ fixture: DeviceFixture) async throws {
        let device = try fixture.make(Self.size)
        let spots: [(UInt64, Int)] = [(0, 4096), (5000, 70000), (1 << 20, 1 << 20), (Self.size - 777, 777)]
        for round in 0..<2 {
            for (index, (offset, count)) in spots.enumerated() {
                let bytes = pattern(count, seed: UInt64(10 * round + index))
                switch await device.startedWrite(bytes, at: offset) {
                case .declined: try await device.write(bytes, at: offset)
                case let .ended(failure): #expect(failure == nil, "\(fixture) at \(offset): \(failure!.message)")
                }
            }
        }
        for (index, (offset, count)) in spots.enumerated() {
            #expect(try await device.read(at: offset, count: count) == pattern(count, seed: UInt64(10 + index)))
        }
        try await device.close()
    }

    /// `startRead` is the same read without a task: declined, or the bytes
    /// `read` would give, holes as zeros; and a device that says it starts
    /// nothing without a task does decline.
    @Test("a read started without a task returns what a read does", arguments: DeviceFixture.all)
    func startedReadsReturnWhatReadsDo(_ fixture: DeviceFixture) async throws {
        let device = try fixture.make(Self.size)
        try await device.write(pattern(70000, seed: 5), at: 5000)
        for (offset, count) in [(0, 4096), (5000, 70000), (4000, 2000), (Self.size - 777, 777)] as [(UInt64, Int)] {
            let expected = try await device.read(at: offset, count: count)
            switch await device.startedRead(at: offset, count: count) {
            case .declined:
                #expect(!device.capabilities.startsWithoutTask, "\(fixture) says it starts reads, then declined one")
            case let .ended(.success(bytes)): #expect(bytes == expected, "\(fixture) at \(offset)")
            case let .ended(.failure(failure)): Issue.record("\(fixture) at \(offset): \(failure.message)")
            }
        }
        try await device.close()
    }
}
