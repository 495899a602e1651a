import BlockDevices
import RadosDevice
import TestSupport
import Testing

@Suite("RADOS images", .serialized)
struct RadosDeviceTests {
    @Test func aSecondWriterIsRefusedWithTheHolderNamed() throws {
        let pool = try TestCluster.pool()
        let name = TestCluster.uniqueName()
        try RadosImage.create(pool, name, size: 1 << 20, objectSize: 64 << 10)
        let writer = try RadosBlockDevice(pool: pool, image: name, readOnly: false)
        do {
            _ = try RadosBlockDevice(pool: pool, image: name, readOnly: false)
            Issue.record("a second writer must be refused")
        } catch {
            #expect(error.description.contains("is in use by client."), "\(error)")
        }
        // Readers take no lock.
        let reader = try RadosBlockDevice(pool: pool, image: name, readOnly: true)
        #expect(reader.size == writer.size)
    }

    @Test func breakingAStaleLockLetsANewWriterIn() async throws {
        let pool = try TestCluster.pool()
        let name = TestCluster.uniqueName()
        try RadosImage.create(pool, name, size: 1 << 20, objectSize: 64 << 10)
        let crashed = try RadosBlockDevice(pool: pool, image: name, readOnly: false)
        try await crashed.write(pattern(4096, seed: 1), at: 0)
        // The first writer never releases its lock, as after kill -9.
        let next = try RadosBlockDevice(pool: pool, image: name, readOnly: false, breakLock: true)
        #expect(try await next.read(at: 0, count: 4096) == pattern(4096, seed: 1))
    }

    @Test func openingAMissingImageIsAClearError() throws {
        let pool = try TestCluster.pool()
        do {
            _ = try RadosBlockDevice(pool: pool, image: "no-such-image", readOnly: false)
            Issue.record("a missing image must not be created implicitly")
        } catch {
            #expect(error.description.contains("does not exist; create it with `buse image create"))
        }
    }

    @Test func unwrittenRegionsAreHolesAndWrittenObjectsAreData() async throws {
        let device = try TestCluster.freshImage(size: 1 << 20, objectSize: 64 << 10)
        try await device.write(pattern(100, seed: 2), at: 200_000)
        let extents = try await device.blockStatus(at: 0, length: 1 << 20)
        #expect(extents == [.hole(196_608), .data(65_536), .hole(786_432)])
    }

    @Test func removeLeavesNoObjectBehind() async throws {
        let pool = try TestCluster.pool()
        let name = TestCluster.uniqueName()
        try RadosImage.create(pool, name, size: 4 << 20, objectSize: 64 << 10)
        let device = try RadosBlockDevice(pool: pool, image: name, readOnly: false)
        try await device.write(pattern(1 << 20, seed: 3), at: 100_000)
        try await device.close()
        try RadosImage.remove(pool, name)
        #expect(try RadosImage.list(pool).contains(name) == false)
        #expect(throws: RadosError.self) { try RadosImage.info(pool, name) }
        let leftovers = try RadosImage.allocatedObjects(pool, name)
        #expect(leftovers == 0)
    }

    @Test func shrinkingNeedsPermissionAndDiscardsThePastTheEnd() async throws {
        let pool = try TestCluster.pool()
        let name = TestCluster.uniqueName()
        try RadosImage.create(pool, name, size: 1 << 20, objectSize: 64 << 10)
        var device: RadosBlockDevice? = try RadosBlockDevice(pool: pool, image: name, readOnly: false)
        try await device!.write(pattern(1 << 20, seed: 4), at: 0)
        try await device!.close()
        device = nil
        #expect(throws: RadosError.self) { try RadosImage.resize(pool, name, to: 300_000, allowShrink: false) }
        try RadosImage.resize(pool, name, to: 300_000, allowShrink: true)
        try RadosImage.resize(pool, name, to: 1 << 20, allowShrink: false)
        let grown = try RadosBlockDevice(pool: pool, image: name, readOnly: false)
        #expect(grown.size == 1 << 20)
        #expect(try await grown.read(at: 0, count: 300_000) == Array(pattern(1 << 20, seed: 4)[..<300_000]))
        #expect(try await grown.read(at: 300_000, count: 100_000) == [UInt8](repeating: 0, count: 100_000))
    }
}
