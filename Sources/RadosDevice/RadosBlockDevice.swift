public import BlockDevices
import CRados
import Glibc
import Logging

/// A block image striped over RADOS objects (see ``ImageLayout``).
///
/// Reads and writes that span objects are split and issued in parallel; a
/// request completes when RADOS has acknowledged every piece, and RADOS
/// acknowledges a write only once the pool's replicas hold it, so every
/// completed write is already durable: FUA is native and flush has nothing
/// left to wait for. With write-around (off unless asked for, see
/// ``WriteAroundLedger``) a write without FUA completes as soon as it is
/// sent, and flush waits for those sent before it. Trim removes whole objects and zeroes or truncates
/// partial ones. A writer holds the image's exclusive lock; read-only opens
/// take no lock (and, since a writer elsewhere may add objects, read every
/// object rather than trust a map that could be stale).
public final class RadosBlockDevice: BlockDevice {
    public let pool: RadosPool
    public let image: String
    public let size: UInt64
    public let objectSize: UInt64
    public let isReadOnly: Bool
    private let map: ObjectMap?
    private let dataObjects: DataObjectNames
    private let mapObject: ObjectName
    private let lock: ImageLock?
    /// Early acknowledgement of writes without FUA, when asked for.
    private let writeAround: WriteAroundLedger?
    private let logger = Logger(label: "buse.rados")
    /// Whether closing the device also closes the pool and its cluster
    /// connection (true when the device made them, from its URI).
    private let ownsPool: Bool
    /// Latency, timeouts and errors of the RADOS operations, for `--metrics`.
    public let statistics = RadosStatistics()

    /// - Parameter writeAroundBytes: when above 0, up to this many bytes of
    ///   writes without FUA are acknowledged as soon as they are sent to
    ///   RADOS (see ``WriteAroundLedger``); 0 acknowledges every write once
    ///   RADOS holds it.
    public init(
        pool: RadosPool, image: String, readOnly: Bool, breakLock: Bool = false, ownsPool: Bool = false,
        writeAroundBytes: Int = 0
    ) throws(RadosError) {
        let header = try RadosImage.info(pool, image)
        self.pool = pool
        self.image = image
        self.size = header.size
        self.objectSize = header.objectSize
        self.isReadOnly = readOnly
        self.ownsPool = ownsPool
        dataObjects = DataObjectNames(image: image)
        mapObject = ObjectName(ImageLayout.mapObject(image))
        if readOnly {
            lock = nil
            map = nil
            writeAround = nil
            return
        }
        writeAround = writeAroundBytes > 0 ? WriteAroundLedger(limit: writeAroundBytes) : nil
        let lock = try ImageLock.acquire(pool, image: image, breakStale: breakLock)
        do {
            let stored = try pool.readWhole(ImageLayout.mapObject(image)) ?? []
            map = ObjectMap(stored: stored, objectCount: header.objectCount)
        } catch {
            lock.release()
            throw error
        }
        self.lock = lock
    }

    public var capabilities: DeviceCapabilities {
        DeviceCapabilities(
            isReadOnly: isReadOnly, canFlush: true, fua: .native, canTrim: true, zero: .native, canFastZero: true,
            canBlockStatus: map != nil,
            // One process, one map, one lock: every connection sees every write.
            isMultiConnSafe: true,
            // Reads, and writes to objects the map holds, end on librados' callback.
            startsWithoutTask: true)
    }

    private func mayExist(_ number: UInt64) -> Bool { map?.mayExist(number) ?? true }

    private func failure(_ status: Int32, _ what: String, _ offset: UInt64, _ length: UInt64) -> DeviceError {
        DeviceError(errno: -status, "RADOS \(what) \(pool.name)/\(image) at \(offset)+\(length)")
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        let failure: DeviceError? = await withUnsafeContinuation { continuation in
            receive(into: buffer, at: offset) { continuation.resume(returning: $0) }
        }
        if let failure { throw failure }
    }

    /// The same read without a task: nothing is waited for before the
    /// requests go to RADOS, and librados' callback answers (at once, for a
    /// range the map calls absent).
    public func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        receive(into: buffer, at: offset, whenDone: whenDone)
        return true
    }

    /// Reads every object of the range the map says may exist, zeroes the
    /// rest here; `whenDone` once all have answered.
    private func receive(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) {
        var pieces: [AioPiece] = []
        for range in ObjectRange.split(offset: offset, length: UInt64(buffer.count), objectSize: objectSize) {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[range.position..<(range.position + Int(range.length))])
            if mayExist(range.number) {
                pieces.append(AioPiece(object: dataObjects(range.number), offset: range.offset, kind: .read(slice)))
            } else {
                slice.initializeMemory(as: UInt8.self, repeating: 0)  // never written: no round trip
            }
        }
        let length = UInt64(buffer.count)
        AioGroup.start(pieces, on: pool, as: .read, countedIn: statistics, submit: submitRead) { [self] status in
            whenDone(status == 0 ? nil : failure(status, "read", offset, length))
        }
    }

    private func submitRead(_ piece: AioPiece, _ completion: rados_completion_t) -> Int32 {
        guard case let .read(slice) = piece.kind else { return -EINVAL }
        let target = slice.baseAddress!.assumingMemoryBound(to: CChar.self)
        return piece.object.withCString { librados.aio_read(pool.context, $0, completion, target, slice.count, piece.offset) }
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        let ranges = ObjectRange.split(offset: offset, length: UInt64(data.count), objectSize: objectSize)
        let numbers = ranges.lazy.map { $0.number }
        // Counted before the existence check, so a trim that removes one of
        // these objects meanwhile either ends before the check (which then
        // stores existence again) or sees this write and keeps "may exist".
        map?.writeStarted(numbers)
        do {
            try await storeExistence(of: numbers, offset, UInt64(data.count))
        } catch {
            map?.writeEnded(numbers)
            throw error
        }
        let failure: DeviceError? = await withUnsafeContinuation { continuation in
            send(data, at: offset, fua: fua, ranges) { continuation.resume(returning: $0) }
        }
        if let failure { throw failure }
    }

    /// The same write without a task, when the map already says "may exist"
    /// for every object it touches (every write but an object's first):
    /// nothing is left to wait for before the data goes to RADOS, and
    /// librados' callback answers. An object's first write stores its
    /// existence first, which waits: that one returns false and takes
    /// ``write(_:at:fua:)``.
    public func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        let ranges = ObjectRange.split(offset: offset, length: UInt64(data.count), objectSize: objectSize)
        // Counted in with the check, for the same reason as in `write`.
        if let map, !map.writeStartedIfStored(ranges.lazy.map { $0.number }) { return false }
        send(data, at: offset, fua: fua, ranges, whenDone: whenDone)
        return true
    }

    /// Sends a write whose objects the map already holds (counted in by
    /// `writeStarted`); counts it out once RADOS answered, then calls
    /// `whenDone`, or calls it at once for a write acknowledged early.
    private func send(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool, _ ranges: [ObjectRange],
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) {
        let pieces = ranges.map { range in
            AioPiece(
                object: dataObjects(range.number), offset: range.offset,
                kind: .write(UnsafeRawBufferPointer(rebasing: data[range.position..<(range.position + Int(range.length))])))
        }
        let length = UInt64(data.count)
        // librados copies the bytes at submission, so an early
        // acknowledgement never hands back a buffer RADOS still reads.
        if !fua, let writeAround, let sequence = writeAround.begin(bytes: data.count) {
            AioGroup.start(pieces, on: pool, as: .write, countedIn: statistics, submit: submitWrite) { [self] status in
                map?.writeEnded(ranges.lazy.map { $0.number })
                var lost: String?
                if status != 0 {
                    lost = "\(failure(status, "write", offset, length).message), after it was acknowledged"
                    logger.error("write-around: \(lost!); every later flush fails with EIO")
                }
                writeAround.end(sequence, bytes: Int(length), failure: lost)
            }
            whenDone(nil)
            return
        }
        AioGroup.start(pieces, on: pool, as: .write, countedIn: statistics, submit: submitWrite) { [self] status in
            map?.writeEnded(ranges.lazy.map { $0.number })
            whenDone(status == 0 ? nil : failure(status, "write", offset, length))
        }
    }

    private func submitWrite(_ piece: AioPiece, _ completion: rados_completion_t) -> Int32 {
        guard case let .write(bytes) = piece.kind else { return -EINVAL }
        let source = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
        return piece.object.withCString { librados.aio_write(pool.context, $0, completion, source, bytes.count, piece.offset) }
    }

    /// Stores "may exist" for objects about to be written for the first
    /// time, before the data: an object the map calls absent never has data.
    private func storeExistence(
        of numbers: some Sequence<UInt64>, _ offset: UInt64, _ length: UInt64
    ) async throws(DeviceError) {
        guard let map else { return }
        let fresh = map.unstored(numbers)
        guard !fresh.isEmpty else { return }
        let pieces = fresh.map { AioPiece(object: mapObject, offset: $0, kind: .write(Self.one)) }
        let status = await AioGroup.run(pieces, on: pool, as: .mapUpdate, countedIn: statistics) { piece, completion in
            let byte = Self.one.baseAddress!.assumingMemoryBound(to: CChar.self)
            return mapObject.withCString { librados.aio_write(pool.context, $0, completion, byte, 1, piece.offset) }
        }
        guard status == 0 else { throw failure(status, "object map update", offset, length) }
        map.markStored(fresh)
    }

    /// The byte stored for "may exist"; librados copies it at submission.
    // Safety: written once here, only read afterwards.
    private nonisolated(unsafe) static let one: UnsafeRawBufferPointer = {
        let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
        byte[0] = 1
        return UnsafeRawBufferPointer(byte)
    }()

    /// Every write completes only once RADOS holds it on the pool's replicas,
    /// except those acknowledged early (write-around): a flush waits for the
    /// ones sent before it, and fails if any of them was lost.
    public func flush() async throws(DeviceError) {
        await writeAround?.waitForEarlierWrites { bytes in
            logger.debug("flush waits for writes acknowledged early", metadata: ["bytes in flight": "\(bytes)"])
        }
        if let loss = earlyWriteLoss { throw loss }
    }

    /// Bytes of writes acknowledged early (write-around) that RADOS has not
    /// answered yet; 0 without write-around.
    public var writeAroundOutstandingBytes: Int { writeAround?.bytesInFlight ?? 0 }

    /// The most ``writeAroundOutstandingBytes`` may reach (the URI's
    /// `write-around=`); 0 without write-around.
    public var writeAroundLimitBytes: Int { writeAround?.limit ?? 0 }

    /// The error every flush (and close) reports once a write acknowledged
    /// early has failed.
    private var earlyWriteLoss: DeviceError? {
        writeAround?.failure.map { DeviceError(.io, "\($0) (write-around)") }
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        try await discard(offset, length, keepAllocated: false)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        try await discard(offset, length, keepAllocated: !options.contains(.mayTrim))
    }

    /// Removes whole objects (unless they must stay allocated) and zeroes the
    /// covered part of the others, truncating where the range reaches an
    /// object's end. Objects the map calls absent already read as zeros.
    private func discard(_ offset: UInt64, _ length: UInt64, keepAllocated: Bool) async throws(DeviceError) {
        var removed: [UInt64] = []
        var pieces: [AioPiece] = []
        for range in ObjectRange.split(offset: offset, length: length, objectSize: objectSize) where mayExist(range.number) {
            let piece = AioPiece(object: dataObjects(range.number), kind: .missingIsFine)
            if range.isWholeObject && !keepAllocated {
                removed.append(range.number)
            } else {
                let operation = librados.create_write_op()!
                librados.write_op_assert_exists(operation)
                if range.reachesObjectEnd && !keepAllocated {
                    librados.write_op_truncate(operation, range.offset)
                } else {
                    librados.write_op_zero(operation, range.offset, range.length)
                }
                piece.writeOperation = operation
            }
            pieces.append(piece)
        }
        map?.removalStarted(removed)
        let status = await AioGroup.run(pieces, on: pool, as: keepAllocated ? .zero : .trim, countedIn: statistics) { piece, completion in
            if let operation = piece.writeOperation {
                return piece.object.withCString {
                    librados.aio_write_op_operate(operation, pool.context, completion, $0, nil, 0)
                }
            }
            return piece.object.withCString { librados.aio_remove(pool.context, $0, completion) }
        }
        map?.removalEnded(removed, removed: status == 0)
        guard status == 0 else { throw failure(status, keepAllocated ? "zero" : "trim", offset, length) }
    }

    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        var extents: [Extent] = []
        for range in ObjectRange.split(offset: offset, length: length, objectSize: objectSize) {
            extents.appendMerging(mayExist(range.number) ? .data(range.length) : .hole(range.length))
        }
        return extents
    }

    /// Releases the writer lock and, when the device owns them, shuts the
    /// pool and the cluster connection down.
    public func close() async throws(DeviceError) {
        await writeAround?.waitForEarlierWrites()
        lock?.release()
        if ownsPool { pool.close() }
        if let loss = earlyWriteLoss { throw loss }
    }
}
