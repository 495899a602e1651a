import BlockDevices
import Foundation
import Glibc
import Logging
import Replication
import Synchronization
import Testing

/// A replicated device offers the engine its writes without a task (the
/// engine then makes none per write), and takes one only when nothing has to
/// wait: without a link, `write` decides what the policy does. What such a
/// write does under faults is the simulation's (most of its writes come
/// this way).
@Suite("Replicated writes started without a task")
struct StartedWriteTests {
    @Test func theEngineIsOfferedWritesWithoutATask() async throws {
        try await withPrimary { device in
            #expect(device.capabilities.startsWithoutTask)
        }
    }

    @Test func withNoPeerTheWriteIsDeclinedAndLeftToWrite() async throws {
        try await withPrimary { device in
            let answered = Atomic<Int>(0)
            let data = [UInt8](repeating: 7, count: 4096)
            let took = data.withUnsafeBytes { bytes in
                device.startWrite(bytes, at: 0, fua: false) { _ in answered.add(1, ordering: .relaxed) }
            }
            #expect(!took)
            #expect(answered.load(ordering: .relaxed) == 0, "a declined write must not be answered")
        }
    }

    private func withPrimary(_ body: (ReplicatedDevice) async throws -> Void) async throws {
        var template = Array("/tmp/buse-started-write-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let root = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let device = try await ReplicatedDevice(
            lower: SimulatedDisk(size: 1 << 20, seed: 1), folder: try NodeFolder(path: root + "/state"),
            logger: Logger(label: "started-write-test"))
        try await body(device)
        try await device.close()
    }
}
