import BlockDevices
import DeviceLayers
import Foundation
import LocalDevices
import RadosDevice

/// One device or layer stack the conformance suite runs against. Adding a
/// device to buse means adding one line to ``DeviceFixture/all``.
struct DeviceFixture: Sendable, CustomStringConvertible {
    let description: String
    let make: @Sendable (_ size: UInt64) throws -> any BlockDevice

    static let all: [DeviceFixture] = [
        DeviceFixture("memory") { MemoryDevice(size: $0) },
        DeviceFixture("file") { try FileDevice(path: temporaryPath("image"), createSize: $0) },
        DeviceFixture("emulated memory") { EmulatedDevice(MemoryDevice(size: $0)) },
        DeviceFixture("emulated file") { EmulatedDevice(try FileDevice(path: temporaryPath("image"), createSize: $0)) },
        DeviceFixture("emulation over a device that only reads and writes") {
            EmulatedDevice(RestrictedDevice(MemoryDevice(size: $0)))
        },
        DeviceFixture("offset window into memory") {
            try OffsetDevice(MemoryDevice(size: $0 + 3 * 65536 + 123), offset: 65536 + 123, length: $0)
        },
        DeviceFixture("offset window into a file") {
            try OffsetDevice(try FileDevice(path: temporaryPath("image"), createSize: $0 + 8192), offset: 4096, length: $0)
        },
        DeviceFixture("fault injector with no faults armed over file") {
            FaultInjectingDevice(try FileDevice(path: temporaryPath("image"), createSize: $0))
        },
        DeviceFixture("delayed emulated memory") {
            DelayedDevice(EmulatedDevice(MemoryDevice(size: $0)), delay: .microseconds(50))
        },
        DeviceFixture("writes started on tasks of their own over emulated memory") {
            TaskStartingDevice(EmulatedDevice(MemoryDevice(size: $0)), fua: .native)
        },
        DeviceFixture("rados image with 64 KiB objects") { try TestCluster.freshImage(size: $0, objectSize: 64 << 10) },
        DeviceFixture("rados image with 64 KiB objects and write-around") {
            try TestCluster.freshImage(size: $0, objectSize: 64 << 10, writeAroundBytes: 256 << 10)
        },
    ]

    init(_ description: String, make: @escaping @Sendable (UInt64) throws -> any BlockDevice) {
        self.description = description
        self.make = make
    }
}

/// A fresh path in a fresh directory, inside one folder for this test
/// process that is removed when the process exits: device images must
/// outlive the test that made them (a device may still be closing), but
/// not the run (they used to pile up in /tmp, 42 folders per run).
func temporaryPath(_ name: String) -> String {
    let directory = URL(fileURLWithPath: testRunFolder).appendingPathComponent(UUID().uuidString, isDirectory: true)
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
        preconditionFailure("cannot make the test folder \(directory.path): \(error)")
    }
    return directory.appendingPathComponent(name).path
}

/// This process's folder for ``temporaryPath(_:)``, made on first use.
private let testRunFolder: String = {
    let folder = testRunFolderPath()
    try? FileManager.default.removeItem(atPath: folder)  // a folder left by a crashed run with this pid
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
        preconditionFailure("cannot make the test run's folder \(folder): \(error)")
    }
    atexit { try? FileManager.default.removeItem(atPath: testRunFolderPath()) }
    return folder
}()

private func testRunFolderPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("buse-tests-\(getpid())").path
}

/// Declares only read, write and flush, so that ``EmulatedDevice`` must
/// provide zero, FUA and fast-zero refusal itself.
struct RestrictedDevice: DeviceLayer {
    let lower: any BlockDevice
    init(_ lower: any BlockDevice) { self.lower = lower }

    var capabilities: DeviceCapabilities {
        DeviceCapabilities(canFlush: true, fua: .none, canTrim: false, zero: .none, canFastZero: false)
    }

    func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        preconditionFailure("zero reached a device that declared it cannot zero")
    }

    func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        preconditionFailure("trim reached a device that declared it cannot trim")
    }
}
