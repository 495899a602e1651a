import BlockDevices
import DeviceCatalog
import TestSupport
import Testing

@Suite("Device URIs")
struct DeviceURITests {
    @Test(arguments: [
        ("4096", UInt64(4096)), ("512K", 512 << 10), ("1G", 1 << 30), ("10GiB", 10 << 30), ("2t", 2 << 40), ("64MB", 64 << 20),
    ])
    func sizesParseWithBinarySuffixes(_ text: String, _ bytes: UInt64) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "G", "1.5G", "-1", "12Q", "99999999999999999999"])
    func badSizesAreRejected(_ text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test func fileURIKeepsPathAndOptions() throws {
        let uri = try DeviceURI(parsing: "file:///var/lib/buse/vol1.img?size=10G&readonly")
        #expect(uri.scheme == "file" && uri.path == "/var/lib/buse/vol1.img")
        #expect(try uri.size("size") == 10 << 30)
        #expect(uri.flag("readonly"))
    }

    @Test func memoryURIOpensASparseDeviceOfThatSize() throws {
        let device = try DeviceCatalog.open(DeviceURI(parsing: "memory:64M"))
        #expect(device.size == 64 << 20)
    }

    @Test func readonlyOptionMakesTheDeviceReadOnly() throws {
        let device = try DeviceCatalog.open(DeviceURI(parsing: "memory:1M?readonly"))
        #expect(device.capabilities.isReadOnly)
    }

    @Test func delayAndJitterMakeADeviceSlowOnPurpose() async throws {
        let device = try DeviceCatalog.open(DeviceURI(parsing: "memory:1M?delay=20ms&jitter=1ms"))
        let clock = ContinuousClock()
        let start = clock.now
        _ = try await device.read(at: 0, count: 512)
        #expect(clock.now - start >= .milliseconds(20))
    }

    @Test(arguments: [
        ("memory:1M?delay=fast", "expected a duration"),
        ("nothing", "has no scheme"),
        ("tape:/dev/st0", "unknown scheme"),
        ("memory:lots", "memory: takes a size"),
        ("memory:1G?colour=blue", "unknown option \"colour\""),
        ("file:/tmp/x.img?size=big", "expected a size"),
    ])
    func badURIsSayWhatIsWrong(_ text: String, _ message: String) {
        do {
            _ = try DeviceCatalog.open(DeviceURI(parsing: text))
            Issue.record("\(text) must be refused")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }
}
