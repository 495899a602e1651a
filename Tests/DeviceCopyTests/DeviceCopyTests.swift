import BlockDevices
import DeviceCopy
import DeviceLayers
import Foundation
import LocalDevices
import TestSupport
import Testing

/// The copy engine between real devices (memory, sparse files), with
/// counting and fault-injecting layers to see what reached the destination.
@Suite struct DeviceCopyTests {
    static let mebibyte = 1 << 20

    /// A 40 MiB + 5 byte source with data in a few places, none aligned to
    /// a chunk, a run of written zeros, and the last byte set.
    static func source() async throws -> MemoryDevice {
        let device = MemoryDevice(size: 40 << 20 + 5)
        try await device.write(pattern(3 * mebibyte, seed: 1), at: 0)
        try await device.write(pattern(4096 * 3, seed: 2), at: UInt64(9 * mebibyte + 4096))
        try await device.write([UInt8](repeating: 0, count: 2 * mebibyte), at: UInt64(20 * mebibyte))
        try await device.write(pattern(5000, seed: 3), at: UInt64(33 * mebibyte - 100))
        try await device.write([0xFF], at: device.size - 1)
        return device
    }

    static func contents(_ device: any BlockDevice) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        var offset: UInt64 = 0
        while offset < device.size {
            let count = Int(min(UInt64(8 * mebibyte), device.size - offset))
            bytes += try await device.read(at: offset, count: count)
            offset += UInt64(count)
        }
        return bytes
    }

    @Test func aCopyReadsTheSameAndWritesOnlyTheData() async throws {
        let source = try await Self.source()
        let destination = CountingDevice(MemoryDevice(size: source.size))
        var seen: [UInt64] = []
        let report = try await DeviceCopy(from: source, to: destination, destinationIsBlank: true).run { done, total in
            #expect(total == source.size)
            seen.append(done)
        }
        #expect(try await Self.contents(destination) == Self.contents(source))
        // 3 MiB, 3 blocks, 5000 bytes over 3 blocks (4096-aligned), the last chunk's 5 bytes.
        let expected = UInt64(3 * Self.mebibyte + 3 * 4096 + 3 * 4096 + 5)
        #expect(report.bytesWritten == expected)
        #expect(report.length == source.size && report.bytesZeroed == 0 && report.bytesSkipped == source.size - expected)
        #expect(destination.count(.zero) == 0 && destination.count(.trim) == 0)
        #expect(destination.count(.flush) == 1, "the destination is flushed once, at the end")
        #expect(seen == seen.sorted() && seen.last == source.size, "progress rises to the total: \(seen)")
    }

    @Test func unallocatedRangesOfTheSourceAreNeverRead() async throws {
        let source = CountingDevice(try await Self.source())
        let destination = MemoryDevice(size: source.size)
        let report = try await DeviceCopy(from: source, to: destination, destinationIsBlank: true).run()
        // MemoryDevice allocates 64 KiB granules: only granules that were written are read.
        let granule = UInt64(64 << 10)
        let allocated: UInt64 = 48 * granule + 1 * granule + 1 * granule + 32 * granule + 1 * granule + 5
        #expect(report.bytesRead == allocated, "read \(report.bytesRead), allocated \(allocated)")
        #expect(source.summary.contains("bytes-read=\(allocated)"), "\(source.summary)")
    }

    @Test func aDestinationThatIsNotBlankEndsUpReadingLikeTheSource() async throws {
        let source = try await Self.source()
        let destination = CountingDevice(MemoryDevice(size: source.size + 4096))
        let old = [UInt8](repeating: 0xEE, count: 4 * Self.mebibyte)
        var offset: UInt64 = 0
        while offset + UInt64(old.count) <= destination.size {
            try await destination.write(old, at: offset)
            offset += UInt64(old.count)
        }
        try await destination.write([UInt8](repeating: 0xEE, count: 4096), at: source.size)
        let report = try await DeviceCopy(from: source, to: destination, destinationIsBlank: false).run()
        #expect(try await destination.read(at: 0, count: Int(source.size)) == Self.contents(source))
        #expect(
            try await destination.read(at: source.size, count: 4096) == [UInt8](repeating: 0xEE, count: 4096),
            "bytes past the source's end are left as they were")
        #expect(report.bytesZeroed > 0 && report.bytesWritten + report.bytesZeroed == source.size)
        #expect(destination.count(.zero) > 0)
    }

    @Test func aSparseFileCopiesIntoASparseFile() async throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let sourcePath = directory.path("source.img")
        try await Self.writeSparseFile(at: sourcePath)
        let source = CountingDevice(try FileDevice(path: sourcePath, readOnly: true))
        let destination = try FileDevice(path: directory.path("copy.img"), createSize: 16 << 20)
        let report = try await DeviceCopy(from: source, to: destination, destinationIsBlank: true).run()
        #expect(report.bytesWritten == 8192)
        #expect(report.bytesRead == 8192 + (1 << 20), "holes are not read; allocated zeros are")
        #expect(try await Self.contents(destination) == Self.contents(source))
        let extents = try await destination.blockStatus(at: 0, length: destination.size)
        let data = extents.filter { !$0.flags.contains(.hole) }.map(\.length).reduce(0, +)
        #expect(data == 8192, "only the data is allocated in the copy: \(extents)")
    }

    /// 16 MiB: 8 KiB of data at 5 MiB, 1 MiB of written zeros at 8 MiB.
    /// The writer (and its lock) is gone when this returns.
    static func writeSparseFile(at path: String) async throws {
        let file = try FileDevice(path: path, createSize: 16 << 20)
        try await file.write(pattern(8192, seed: 4), at: 5 << 20)
        try await file.write([UInt8](repeating: 0, count: 1 << 20), at: 8 << 20)
        try await file.close()
    }

    @Test func aReadFailureStopsTheCopyAndSaysWhere() async throws {
        let offset = UInt64(33 * Self.mebibyte)
        let source = FaultInjectingDevice(
            try await Self.source(), faults: [.init([.read], kind: .io, range: offset..<(offset + 1))])
        let destination = CountingDevice(MemoryDevice(size: source.size))
        await #expect {
            _ = try await DeviceCopy(from: source, to: destination, destinationIsBlank: true).run()
        } throws: { error in
            guard case let .read(cause, at)? = error as? CopyError else { return false }
            // The failing read is of the 64 KiB granule of data just before 33 MiB.
            return cause.kind == .io && at == UInt64(33 * Self.mebibyte - 65536)
                && "\(error)".contains("reading the source at offset \(at)")
        }
        #expect(destination.count(.flush) == 0, "a failed copy is not reported durable")
    }

    @Test func aWriteFailureStopsTheCopy() async throws {
        let source = try await Self.source()
        let destination = FaultInjectingDevice(
            MemoryDevice(size: source.size), faults: [.init([.write], kind: .noSpace, range: 0..<(1 << 20))])
        await #expect {
            _ = try await DeviceCopy(from: source, to: destination, destinationIsBlank: true).run()
        } throws: { error in
            guard case let .write(cause, at)? = error as? CopyError else { return false }
            return cause.kind == .noSpace && at == 0
        }
    }

    @Test func aSmallerOrReadOnlyDestinationIsRefusedBeforeAnyWrite() async throws {
        let source = try await Self.source()
        let small = CountingDevice(MemoryDevice(size: source.size - 1))
        await #expect {
            _ = try await DeviceCopy(from: source, to: small, destinationIsBlank: true).run()
        } throws: { error in
            guard case let .destinationTooSmall(from, into)? = error as? CopyError else { return false }
            return from == source.size && into == source.size - 1
        }
        #expect(small.count(.write) == 0)
        let readOnly = ReadOnlyDevice(MemoryDevice(size: source.size))
        await #expect {
            _ = try await DeviceCopy(from: source, to: readOnly, destinationIsBlank: true).run()
        } throws: { error in
            guard case .destinationReadOnly? = error as? CopyError else { return false }
            return true
        }
    }

    @Test func aCancelledCopyStopsWithCancelled() async throws {
        let source = try await Self.source()
        let destination = CountingDevice(MemoryDevice(size: source.size))
        let copy = DeviceCopy(from: source, to: destination, destinationIsBlank: true)
        let task = Task {
            while !Task.isCancelled { await Task.yield() }
            return try await copy.run()
        }
        task.cancel()
        await #expect {
            _ = try await task.value
        } throws: { error in
            guard case let .cancelled(done)? = error as? CopyError else { return false }
            return done == 0
        }
        #expect(destination.count(.write) == 0 && destination.count(.flush) == 0)
    }

    @Test(arguments: [1, 3, 16])
    func anyNumberOfChunksInFlightGivesTheSameCopy(chunksInFlight: Int) async throws {
        let source = try await Self.source()
        let destination = MemoryDevice(size: source.size)
        var copy = DeviceCopy(from: source, to: destination, destinationIsBlank: true)
        copy.chunksInFlight = chunksInFlight
        copy.chunkLength = 1 << 20
        _ = try await copy.run()
        #expect(try await Self.contents(destination) == Self.contents(source))
    }
}

/// A directory of this test's own under the system's temporary folder.
struct ScratchDirectory {
    let root: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("device-copy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { root + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}
