import Glibc
import TestSupport
import Testing

@testable import RadosDevice

/// Object names are built straight into the bytes librados takes, not
/// through `String` (which copies on every C call): they must still be the
/// names the image layout documents, or an image written by one build
/// would read as holes in another.
@Suite struct ObjectNameTests {
    @Test(arguments: [0, 1, 0xabc, 0xdead_beef, 1 << 40, UInt64.max])
    func dataObjectNamesAreTheLayoutsNames(number: UInt64) {
        let names = DataObjectNames(image: "vm-disk.1")
        #expect(names(number).string == ImageLayout.dataObject("vm-disk.1", number))
    }

    @Test func aNameIsOneTerminatedCStringOfItsBytes() {
        let name = ObjectName("buse_map.vm-disk.1")
        #expect(name.withCString { strlen($0) } == "buse_map.vm-disk.1".utf8.count)
        #expect(name.withCString { String(cString: $0) } == "buse_map.vm-disk.1")
    }

    @Test func writesLandInTheObjectsTheLayoutNames() async throws {
        let pool = try TestCluster.pool()
        let image = TestCluster.uniqueName()
        try RadosImage.create(pool, image, size: 1 << 20, objectSize: 64 << 10)
        let device = try RadosBlockDevice(pool: pool, image: image, readOnly: false)
        // Objects 3 and 4 (one write across their boundary) and 10.
        try await device.write(pattern(70_000, seed: 4), at: 3 * 65_536 + 100)
        try await device.write(pattern(512, seed: 5), at: 10 * 65_536)
        try await device.close()
        let objects = try pool.objects(withPrefix: ImageLayout.dataPrefix(image)).sorted()
        #expect(objects == [3, 4, 10].map { ImageLayout.dataObject(image, $0) })
        try RadosImage.remove(pool, image)
    }
}
