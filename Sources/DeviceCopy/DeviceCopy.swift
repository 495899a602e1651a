public import BlockDevices

/// Copies one block device onto another, thin at both ends, with a few
/// chunks in flight: what `buse image import`, `export` and `copy` run.
///
/// The source is read in chunks aligned to ``chunkLength`` (the image's
/// object size, so no chunk straddles two RADOS objects). For each chunk:
/// - what the source's block status says reads as zeros is never read;
/// - what is read is scanned in blocks of ``blockLength``, and only blocks
///   holding a non-zero byte are written;
/// - on a destination that is not known to be blank, what reads as zeros
///   is zeroed there instead (a trim where the device can: a whole RADOS
///   object is removed), but short gaps between data are written with it.
/// ``chunksInFlight`` chunks are copied at once, each with its own buffer,
/// so the copy is not bound by one request's latency. After the last chunk
/// the destination is flushed: a copy that returns is durable.
///
/// On the first failure no new chunk starts; the chunks in flight finish
/// and the first error is thrown. Cancelling the task stops the copy the
/// same way, with ``CopyError/cancelled(done:)``.
public struct DeviceCopy: Sendable {
    public let source: any BlockDevice
    public let destination: any BlockDevice
    /// The destination reads as zeros everywhere (a new image, a new sparse
    /// file): zeros of the source are then skipped rather than zeroed.
    public let destinationIsBlank: Bool
    /// Bytes per chunk: one read, and at most one buffer, per chunk. At
    /// most 32 MiB, the largest request a device is promised.
    public var chunkLength: Int = 4 << 20
    /// Chunks copied at once.
    public var chunksInFlight: Int = 8
    /// The granularity of zero detection: a run of zeros this long, aligned
    /// within its chunk, is not written. 4 KiB is a filesystem block.
    public var blockLength: Int = 4096
    /// On a destination that is not blank, zeros between data shorter than
    /// this are written with the data rather than zeroed by a request of
    /// their own (16 blocks: at most 128 requests per 4 MiB chunk).
    public var gapLengthMinimum: Int = 64 << 10

    public init(from source: any BlockDevice, to destination: any BlockDevice, destinationIsBlank: Bool) {
        self.source = source
        self.destination = destination
        self.destinationIsBlank = destinationIsBlank
    }

    /// Copies the whole source to the start of the destination, calling
    /// `progress` with the bytes done and the total after each chunk.
    public func run(progress: (_ done: UInt64, _ total: UInt64) -> Void = { _, _ in }) async throws(CopyError) -> CopyReport {
        precondition(chunkLength > 0 && chunkLength <= 32 << 20, "a chunk is 1 byte to 32 MiB")
        precondition(chunksInFlight > 0 && blockLength > 0, "a copy has at least one chunk in flight")
        guard destination.size >= source.size else {
            throw .destinationTooSmall(source: source.size, destination: destination.size)
        }
        guard !destination.capabilities.isReadOnly else { throw .destinationReadOnly }
        let buffers = (0..<chunksInFlight).map { _ in ChunkBuffer(length: chunkLength) }
        defer { buffers.forEach { $0.deallocate() } }
        let total = source.size
        var report = CopyReport()
        var failure: CopyError?
        await withTaskGroup(of: (slot: Int, result: Result<CopyReport, CopyError>).self) { group in
            var idle = Array(buffers.indices)
            var next: UInt64 = 0
            while true {
                while failure == nil, next < total, let slot = idle.popLast() {
                    if Task.isCancelled {
                        failure = .cancelled(done: report.length)
                        idle.append(slot)
                        break
                    }
                    let range = next..<min(next + UInt64(chunkLength), total)
                    next = range.upperBound
                    let buffer = buffers[slot]
                    group.addTask { [self] in (slot, await copyReportingFailure(range, through: buffer)) }
                }
                guard let (slot, result) = await group.next() else { break }
                idle.append(slot)
                switch result {
                case let .success(chunk):
                    report.add(chunk)
                    progress(report.length, total)
                case let .failure(error):
                    if failure == nil { failure = error }
                }
            }
        }
        if let failure { throw failure }
        if destination.capabilities.canFlush {
            do throws(DeviceError) { try await destination.flush() } catch { throw .flush(error) }
        }
        return report
    }

    /// ``copy(_:through:)`` with its failure as a value, for the task group.
    /// (A typed-throws do/catch written in the child task's closure itself,
    /// returning the buffer with the result, handed back a null buffer in
    /// release builds of Swift 6.3.)
    private func copyReportingFailure(_ range: Range<UInt64>, through buffer: ChunkBuffer) async -> Result<CopyReport, CopyError> {
        do throws(CopyError) {
            return .success(try await copy(range, through: buffer))
        } catch {
            return .failure(error)
        }
    }

    /// Copies one chunk, using `buffer` for it alone.
    private func copy(_ range: Range<UInt64>, through buffer: ChunkBuffer) async throws(CopyError) -> CopyReport {
        var report = CopyReport()
        report.length = UInt64(range.count)
        let memory = UnsafeMutableRawBufferPointer(rebasing: buffer.memory[..<range.count])
        let extents = try await allocation(of: range)
        for extent in extents {
            let slice = UnsafeMutableRawBufferPointer(
                rebasing: memory[Int(extent.range.lowerBound - range.lowerBound)..<Int(extent.range.upperBound - range.lowerBound)])
            if extent.readsAsZeros {
                slice.initializeMemory(as: UInt8.self, repeating: 0)
                continue
            }
            do throws(DeviceError) {
                try await source.read(into: slice, at: extent.range.lowerBound)
            } catch {
                throw .read(error, at: extent.range.lowerBound)
            }
            report.bytesRead += UInt64(slice.count)
        }
        let data = UnsafeRawBufferPointer(memory)
        let runs = report.bytesRead == 0 ? [] : DataRuns.find(in: data, blockLength: blockLength)
        if destinationIsBlank {
            for run in runs {
                try await write(UnsafeRawBufferPointer(rebasing: data[run]), at: range.lowerBound + UInt64(run.lowerBound))
                report.bytesWritten += UInt64(run.count)
            }
        } else {
            // Runs and the gaps between them, in order: what the destination
            // held there before must go too.
            var position = 0
            for run in DataRuns.joined(runs, acrossGapsShorterThan: gapLengthMinimum) {
                if run.lowerBound > position {
                    try await zero(position..<run.lowerBound, of: range)
                    report.bytesZeroed += UInt64(run.lowerBound - position)
                }
                try await write(UnsafeRawBufferPointer(rebasing: data[run]), at: range.lowerBound + UInt64(run.lowerBound))
                report.bytesWritten += UInt64(run.count)
                position = run.upperBound
            }
            if position < data.count {
                try await zero(position..<data.count, of: range)
                report.bytesZeroed += UInt64(data.count - position)
            }
        }
        return report
    }

    private func write(_ data: UnsafeRawBufferPointer, at offset: UInt64) async throws(CopyError) {
        do throws(DeviceError) {
            try await destination.write(data, at: offset, fua: false)
        } catch {
            throw .write(error, at: offset)
        }
    }

    /// Makes `piece` of a chunk read as zeros on a destination that is not
    /// blank, releasing its space where the device can.
    private func zero(_ piece: Range<Int>, of chunk: Range<UInt64>) async throws(CopyError) {
        let offset = chunk.lowerBound + UInt64(piece.lowerBound)
        do throws(DeviceError) {
            if destination.capabilities.zero == .none {
                try await destination.writeZeros(at: offset, length: UInt64(piece.count))
            } else {
                try await destination.zero(at: offset, length: UInt64(piece.count), options: .mayTrim)
            }
        } catch {
            throw .zero(error, at: offset)
        }
    }

    /// The chunk's pieces and whether each reads as zeros, from the
    /// source's block status (all data when the source has none).
    private func allocation(of range: Range<UInt64>) async throws(CopyError) -> [SourceExtent] {
        guard source.capabilities.canBlockStatus else { return [SourceExtent(range: range, readsAsZeros: false)] }
        var pieces: [SourceExtent] = []
        var position = range.lowerBound
        while position < range.upperBound {
            let extents: [Extent]
            do throws(DeviceError) {
                extents = try await source.blockStatus(at: position, length: range.upperBound - position)
            } catch {
                throw .blockStatus(error, at: position)
            }
            let before = position
            for extent in extents where position < range.upperBound && extent.length > 0 {
                let end = position + min(extent.length, range.upperBound - position)
                pieces.append(SourceExtent(range: position..<end, readsAsZeros: extent.flags.contains(.zero)))
                position = end
            }
            // A device that answers with nothing for a range: read it.
            if position == before {
                pieces.append(SourceExtent(range: position..<range.upperBound, readsAsZeros: false))
                position = range.upperBound
            }
        }
        return pieces
    }
}

/// A run of the source with one allocation state.
struct SourceExtent {
    var range: Range<UInt64>
    var readsAsZeros: Bool
}

/// A page-aligned buffer for one chunk.
// Safety: the copy hands each buffer to exactly one chunk's task at a time
// and takes it back (its slot comes back in the task group's result) before
// reusing or freeing it.
struct ChunkBuffer: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer

    init(length: Int) {
        memory = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 4096)
    }

    func deallocate() { memory.deallocate() }
}
