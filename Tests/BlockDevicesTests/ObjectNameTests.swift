import Glibc
import TestSupport
import Testing

@testable import RadosDevice

/// Object names are built straight into the bytes librados takes, not
/// through `String` (which copies on every C call): they must still be the
/// names the image layout documents (`buse_data.IMAGE.%016x`), or an image
/// written by one build would read as holes in another.
@Suite struct ObjectNameTests {
    @Test(
        arguments: [
            (0, "buse_data.vm-disk.1.0000000000000000"), (1, "buse_data.vm-disk.1.0000000000000001"),
            (0xabc, "buse_data.vm-disk.1.0000000000000abc"), (0xdead_beef, "buse_data.vm-disk.1.00000000deadbeef"),
            (1 << 40, "buse_data.vm-disk.1.0000010000000000"), (UInt64.max, "buse_data.vm-disk.1.ffffffffffffffff"),
        ] as [(UInt64, String)])
    func dataObjectNamesAreTheLayoutsNames(number: UInt64, name: String) {
        let names = DataObjectNames(image: "vm-disk.1")
        #expect(names(number).string == name)
        #expect(names(number).withCString { String(cString: $0) } == name)
        #expect(ImageLayout.dataObject("vm-disk.1", number) == name)
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
