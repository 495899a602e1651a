import BlockDevices
import Foundation
import LocalDevices
import Synchronization
import TestSupport
import Testing

@Suite("File device")
struct FileDeviceTests {
    @Test func createsASparseFileOfTheAskedSize() throws {
        let path = temporaryPath("new.img")
        let device = try FileDevice(path: path, createSize: 1 << 30)
        #expect(device.size == 1 << 30)
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_size == 1 << 30)
        #expect(status.st_blocks < 64, "a new image must be sparse, not 1 GiB of allocated zeros")
    }

    /// Replication's task-free write starts the local part through this
    /// (and a replicated export's reads come this way): the request is done
    /// and answered on the caller's thread before it returns, while the
    /// engine is not offered it for a plain export (its task costs little).
    @Test func aStartedWriteOrReadIsDoneAndAnsweredBeforeItReturns() async throws {
        let device = try FileDevice(path: temporaryPath("started.img"), createSize: 1 << 20)
        #expect(!device.capabilities.startsWithoutTask)
        let answered = Mutex<[DeviceError?]>([])
        let data = [UInt8](repeating: 0x5a, count: 4096)
        let took = data.withUnsafeBytes { bytes in
            device.startWrite(bytes, at: 8192, fua: true) { error in answered.withLock { $0.append(error) } }
        }
        #expect(took)
        #expect(answered.withLock { $0.count } == 1, "answered once, before startWrite returned")
        #expect(answered.withLock { $0.first! } == nil)
        #expect(try await device.read(at: 8192, count: 4096) == data)
        // A started read, likewise.
        let read = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { read.deallocate() }
        nonisolated(unsafe) let target = read
        let readAnswered = Mutex<[DeviceError?]>([])
        #expect(device.startRead(into: target, at: 8192) { error in readAnswered.withLock { $0.append(error) } })
        #expect(readAnswered.withLock { $0.count } == 1)
        #expect(readAnswered.withLock { $0.first! } == nil)
        #expect(Array(read) == data)
    }

    @Test func refusesAFileThisProcessAlreadyWritesAndSaysSo() throws {
        let path = temporaryPath("held.img")
        let first = try FileDevice(path: path, createSize: 1 << 20)
        let error = #expect(throws: FileDeviceError.self) { try FileDevice(path: path) }
        #expect(error?.description.contains("another device of this process") == true, "\(String(describing: error))")
        withExtendedLifetime(first) {}
    }

    @Test func refusesAFileAnotherProcessLocksAndNamesIt() async throws {
        let path = temporaryPath("held.img")
        _ = try FileDevice(path: path, createSize: 1 << 20)
        // flock(1) takes the lock and holds it while its command runs, in a
        // session of its own so that one signal to the group ends both. Not
        // `cat` ended by closing its stdin: the pipe's write end leaked into
        // every process other tests spawned meanwhile, cat never saw its
        // end, and `waitUntilExit` spun on a pool thread until the run was killed.
        let holder = try ChildProcess("/usr/bin/flock", ["--exclusive", path, "sleep", "600"], outputPrefix: nil, newSession: true)
        let pid = holder.processIdentifier
        defer { kill(-pid, SIGKILL) }
        try await waitUntil("flock holds the file") {
            (try? readProcFile("/proc/locks"))?.contains("FLOCK  ADVISORY  WRITE \(pid) ") == true
        }
        let error = #expect(throws: FileDeviceError.self) { try FileDevice(path: path) }
        #expect(error?.description.contains("process \(pid) (flock) holds its lock") == true, "\(String(describing: error))")
        kill(-pid, SIGKILL)
        #expect(await holder.waitForTermination(timeout: .seconds(60)) == .signal(SIGKILL))
    }

    @Test func readersShareButExcludeWriters() throws {
        let path = temporaryPath("shared.img")
        _ = try FileDevice(path: path, createSize: 1 << 20)  // creates, then releases on deinit
        let reader = try FileDevice(path: path, readOnly: true)
        let second = try FileDevice(path: path, readOnly: true)
        #expect(throws: FileDeviceError.self) { try FileDevice(path: path) }
        #expect(reader.capabilities.isReadOnly && second.size == 1 << 20)
    }

    @Test func refusesASizeThatDiffersFromTheExistingFile() throws {
        let path = temporaryPath("sized.img")
        _ = try FileDevice(path: path, createSize: 1 << 20)
        do {
            _ = try FileDevice(path: path, createSize: 2 << 20)
            Issue.record("a size mismatch must be refused")
        } catch {
            #expect(error.description.contains("already exists with 1048576 bytes"))
        }
    }

    @Test func aMissingFileWithoutSizeIsAClearError() throws {
        do {
            _ = try FileDevice(path: "/nonexistent/buse/image.img")
            Issue.record("opening a missing file must fail")
        } catch {
            #expect(error.description.contains("cannot open /nonexistent/buse/image.img"))
        }
    }

    @Test func trimPunchesAHoleThatBlockStatusReports() async throws {
        let device = try FileDevice(path: temporaryPath("holes.img"), createSize: 4 << 20)
        try await device.write(pattern(4 << 20, seed: 9), at: 0)
        try await device.trim(at: 1 << 20, length: 1 << 20, fua: false)
        let extents = try await device.blockStatus(at: 0, length: 4 << 20)
        #expect(extents == [.data(1 << 20), .hole(1 << 20), .data(2 << 20)])
        #expect(try await device.read(at: 1 << 20, count: 4096) == [UInt8](repeating: 0, count: 4096))
    }

    @Test func zeroWithoutHolesKeepsTheRangeAllocated() async throws {
        let device = try FileDevice(path: temporaryPath("nohole.img"), createSize: 4 << 20)
        try await device.write(pattern(4 << 20, seed: 10), at: 0)
        try await device.zero(at: 1 << 20, length: 1 << 20, options: [])
        let extents = try await device.blockStatus(at: 1 << 20, length: 1 << 20)
        #expect(extents.allSatisfy { !$0.flags.contains(.hole) }, "NO_HOLE zeroes must stay allocated")
        #expect(try await device.read(at: 1 << 20, count: 1 << 20) == [UInt8](repeating: 0, count: 1 << 20))
    }
}
