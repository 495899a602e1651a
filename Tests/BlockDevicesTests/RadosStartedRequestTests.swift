import BlockDevices
import RadosDevice
import TestSupport
import Testing

/// The engine starts RADOS reads and writes without a task (`startRead`,
/// `startWrite`); writes only where nothing has to be waited for before the
/// data goes out: an object's first write stores "may exist" in the image's
/// map first, so it is declined and takes `write`. Once the map holds the
/// object, its writes start; once a trim removed it, its next write is
/// declined again. Reads always start.
@Suite("RADOS reads and writes started without a task", .serialized)
struct RadosStartedRequestTests {
    static let objectSize: UInt64 = 64 << 10

    @Test func onlyWritesToObjectsTheMapHoldsAreStarted() async throws {
        let device = try TestCluster.freshImage(size: 1 << 20, objectSize: Self.objectSize)
        let object1 = Self.objectSize
        let declined = await device.startedWrite(pattern(4096, seed: 1), at: object1)
        guard case .declined = declined else {
            Issue.record("an object's first write must store its existence first, so it cannot start: \(declined)")
            return
        }
        // Declined means nothing written, and the map still calls it absent.
        #expect(try await device.read(at: object1, count: 4096) == [UInt8](repeating: 0, count: 4096))
        #expect(try await device.blockStatus(at: object1, length: Self.objectSize) == [.hole(Self.objectSize)])

        try await device.write(pattern(4096, seed: 1), at: object1)
        #expect(await device.startedWrite(pattern(4096, seed: 2), at: object1 + 4096).succeeded)
        #expect(try await device.read(at: object1, count: 8192) == pattern(4096, seed: 1) + pattern(4096, seed: 2))

        // Across objects 1 and 2, 2 never written: declined as a whole.
        let across = await device.startedWrite(pattern(200, seed: 3), at: 2 * Self.objectSize - 100)
        guard case .declined = across else {
            Issue.record("a write reaching an object not yet in the map must be declined: \(across)")
            return
        }
        #expect(try await device.read(at: 2 * Self.objectSize - 100, count: 100) == [UInt8](repeating: 0, count: 100))

        try await device.trim(at: object1, length: Self.objectSize, fua: false)
        let afterTrim = await device.startedWrite(pattern(4096, seed: 4), at: object1)
        guard case .declined = afterTrim else {
            Issue.record("a removed object's next write must store its existence again: \(afterTrim)")
            return
        }
        try await device.close()
    }

    /// Reads start whatever the map says: an object it calls absent reads as
    /// zeros at once, with no request to RADOS; others are read.
    @Test func readsStartAndReturnHolesAsZerosAndDataAsWritten() async throws {
        let device = try TestCluster.freshImage(size: 1 << 20, objectSize: Self.objectSize)
        #expect(device.capabilities.startsWithoutTask)
        try await device.write(pattern(8192, seed: 7), at: Self.objectSize - 4096)
        #expect(await device.startedRead(at: 0, count: 4096).bytes == [UInt8](repeating: 0, count: 4096))
        #expect(await device.startedRead(at: Self.objectSize - 4096, count: 8192).bytes == pattern(8192, seed: 7))
        let tail = await device.startedRead(at: 3 * Self.objectSize, count: 512).bytes
        #expect(tail == [UInt8](repeating: 0, count: 512))
        try await device.close()
    }

    /// Many started writes in flight at once over a few objects, each
    /// ended once, the last of each spot standing.
    @Test func manyStartedWritesInFlightEachEndOnce() async throws {
        let device = try TestCluster.freshImage(size: 1 << 20, objectSize: Self.objectSize)
        for object in 0..<4 {
            try await device.write(pattern(512, seed: 100), at: UInt64(object) * Self.objectSize)
        }
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    await device.startedWrite(pattern(4096, seed: UInt64(index)), at: UInt64(index) * 4096).succeeded
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.count == 64 && outcomes.allSatisfy { $0 })
        for index in 0..<64 {
            #expect(try await device.read(at: UInt64(index) * 4096, count: 4096) == pattern(4096, seed: UInt64(index)))
        }
        try await device.close()
    }
}
