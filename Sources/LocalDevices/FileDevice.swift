public import BlockDevices
import CSystemShims
import Glibc
import Synchronization

/// A device backed by a regular file or a block device on this host.
///
/// - read and write are `pread`/`pwrite` straight from and into the engine's
///   buffers (no copies); FUA is a `pwritev2(RWF_DSYNC)` of just that write;
///   flush is `fdatasync`.
/// - trim punches a hole; zero punches a hole when holes are allowed, else
///   zeroes the range in place (`FALLOC_FL_ZERO_RANGE`), falling back to a
///   hole plus allocation, and finally to writing zeros (never when the
///   client asked for a fast zero).
/// - block status comes from `SEEK_DATA`/`SEEK_HOLE`.
/// - an exclusive `flock` keeps two buse processes from writing one file
///   (readers take a shared lock, so they only exclude writers).
public final class FileDevice: BlockDevice {
    public let path: String
    public let size: UInt64
    public let isReadOnly: Bool
    private let descriptor: Int32
    private let isBlockDevice: Bool
    /// Cleared the first time the filesystem says it cannot punch holes.
    private let canPunchHoles = Atomic<Bool>(true)
    /// Cleared the first time the filesystem says it cannot zero ranges.
    private let canZeroRanges = Atomic<Bool>(true)

    /// Opens `path`. With `createSize`, a missing file is created sparse with
    /// that size, and an existing one must already have it.
    public init(path: String, readOnly: Bool = false, createSize: UInt64? = nil) throws(FileDeviceError) {
        var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        if createSize != nil && !readOnly { flags |= O_CREAT }
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw .open(path: path, errno: errno) }
        do {
            (size, isBlockDevice) = try Self.prepare(fd, path: path, readOnly: readOnly, createSize: createSize)
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.path = path
        self.descriptor = fd
        self.isReadOnly = readOnly
    }

    /// Checks the file's kind, takes its lock and settles its size.
    private static func prepare(
        _ fd: Int32, path: String, readOnly: Bool, createSize: UInt64?
    ) throws(FileDeviceError) -> (size: UInt64, isBlockDevice: Bool) {
        var fileStatus = stat()
        guard fstat(fd, &fileStatus) == 0 else { throw .open(path: path, errno: errno) }
        let isBlock = (fileStatus.st_mode & S_IFMT) == S_IFBLK
        guard isBlock || (fileStatus.st_mode & S_IFMT) == S_IFREG else { throw .notAFileOrBlockDevice(path: path) }
        guard flock(fd, (readOnly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 else {
            throw errno == EWOULDBLOCK ? .inUse(path: path, holder: .of(fd)) : .open(path: path, errno: errno)
        }
        if isBlock {
            var size: UInt64 = 0
            guard buse_block_device_size(fd, &size) == 0 else { throw .open(path: path, errno: errno) }
            return (size, true)
        }
        let size = UInt64(fileStatus.st_size)
        guard let wanted = createSize, size != wanted else { return (size, false) }
        // A file we just created (or an empty one) takes the asked size, sparse.
        guard size == 0 && !readOnly else { throw .sizeMismatch(path: path, actual: size, requested: wanted) }
        guard ftruncate(fd, off_t(wanted)) == 0 else { throw .open(path: path, errno: errno) }
        return (wanted, false)
    }

    deinit { Glibc.close(descriptor) }

    public var capabilities: DeviceCapabilities {
        DeviceCapabilities(
            isReadOnly: isReadOnly, canFlush: true, fua: .native, canTrim: true, zero: .native,
            canFastZero: true, canBlockStatus: !isBlockDevice, canCache: true,
            // One descriptor and one page cache serve every connection.
            isMultiConnSafe: true)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError) {
        try readNow(into: buffer, at: offset)
    }

    /// The read done at once on the caller's thread, on the terms of
    /// ``startWrite(_:at:fua:whenDone:)`` (a replicated export's reads, which
    /// the engine starts because its writes start without a task).
    public func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        do {
            try readNow(into: buffer, at: offset)
            whenDone(nil)
        } catch {
            whenDone(error)
        }
        return true
    }

    private func readNow(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(DeviceError) {
        var done = 0
        while done < buffer.count {
            let result = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if result > 0 {
                done += result
            } else if result == 0 {
                // The file shrank underneath us: what is gone reads as zeros.
                UnsafeMutableRawBufferPointer(rebasing: buffer[done...]).initializeMemory(as: UInt8.self, repeating: 0)
                return
            } else if errno != EINTR {
                throw DeviceError(errno: errno, "pread \(path) at \(offset + UInt64(done))")
            }
        }
    }

    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        try writeNow(data, at: offset, fua: fua)
    }

    /// The write done at once, on the caller's thread, `whenDone` called
    /// before this returns. Not offered to the engine (the capability stays
    /// off: a plain export's write never waits, so its task costs little);
    /// a layer that starts a write of its own around this one, such as
    /// replication's, then needs no task for the local part.
    public func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        do {
            try writeNow(data, at: offset, fua: fua)
            whenDone(nil)
        } catch {
            whenDone(error)
        }
        return true
    }

    private func writeNow(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) throws(DeviceError) {
        var done = 0
        while done < data.count {
            let position = UInt64(done) + offset
            let result =
                fua
                ? buse_pwrite_dsync(descriptor, data.baseAddress! + done, data.count - done, position)
                : pwrite(descriptor, data.baseAddress! + done, data.count - done, off_t(position))
            if result >= 0 {
                done += result
            } else if errno != EINTR {
                throw DeviceError(errno: errno, "pwrite \(path) at \(position)")
            }
        }
    }

    public func flush() async throws(DeviceError) {
        while fdatasync(descriptor) != 0 {
            guard errno == EINTR else { throw DeviceError(errno: errno, "fdatasync \(path)") }
        }
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        // Trim is advisory: a filesystem without hole punching ignores it.
        if try punchHole(offset, length), fua { try await flush() }
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        if try zeroQuickly(offset, length, mayTrim: options.contains(.mayTrim)) {
            if options.contains(.fua) { try await flush() }
            return
        }
        if options.contains(.fastOnly) {
            throw DeviceError(.notSupported, "\(path): the filesystem cannot zero without writing")
        }
        try await writeZeros(at: offset, length: length)
        if options.contains(.fua) { try await flush() }
    }

    /// Tries the fallocate ways of zeroing, cheapest first. False when none
    /// is supported here, so the caller must write zeros.
    private func zeroQuickly(_ offset: UInt64, _ length: UInt64, mayTrim: Bool) throws(DeviceError) -> Bool {
        if mayTrim, try punchHole(offset, length) { return true }
        if canZeroRanges.load(ordering: .relaxed) {
            if buse_zero_range(descriptor, offset, length) == 0 { return true }
            guard errno == EOPNOTSUPP || errno == ENODEV else {
                throw DeviceError(errno: errno, "fallocate(ZERO_RANGE) \(path) at \(offset)+\(length)")
            }
            canZeroRanges.store(false, ordering: .relaxed)
        }
        // No zero-range (tmpfs, some network filesystems): a hole, then
        // allocate it again so the space stays reserved as NO_HOLE asks.
        guard try punchHole(offset, length) else { return false }
        if !mayTrim && buse_allocate(descriptor, offset, length) != 0 && errno != EOPNOTSUPP {
            throw DeviceError(errno: errno, "fallocate \(path) at \(offset)+\(length)")
        }
        return true
    }

    /// Punches a hole; false if this filesystem cannot.
    private func punchHole(_ offset: UInt64, _ length: UInt64) throws(DeviceError) -> Bool {
        guard canPunchHoles.load(ordering: .relaxed) else { return false }
        if buse_punch_hole(descriptor, offset, length) == 0 { return true }
        guard errno == EOPNOTSUPP || errno == ENODEV else {
            throw DeviceError(errno: errno, "fallocate(PUNCH_HOLE) \(path) at \(offset)+\(length)")
        }
        canPunchHoles.store(false, ordering: .relaxed)
        return false
    }

    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        let end = offset + length
        var position = offset
        var extents: [Extent] = []
        // Bound the work per call; the engine asks again for the rest.
        while position < end && extents.count < 256 {
            let dataStart = buse_seek_data(descriptor, position)
            if dataStart < 0 {
                guard errno == ENXIO else { throw DeviceError(errno: errno, "lseek(SEEK_DATA) \(path)") }
                extents.appendMerging(.hole(end - position))  // only holes up to the end of file
                break
            }
            if UInt64(dataStart) > position {
                let holeEnd = min(UInt64(dataStart), end)
                extents.appendMerging(.hole(holeEnd - position))
                position = holeEnd
                continue
            }
            let holeStart = buse_seek_hole(descriptor, position)
            guard holeStart >= 0 else { throw DeviceError(errno: errno, "lseek(SEEK_HOLE) \(path)") }
            let dataEnd = min(UInt64(holeStart), end)
            extents.appendMerging(.data(dataEnd - position))
            position = dataEnd
        }
        return extents
    }

    public func cache(at offset: UInt64, length: UInt64) async throws(DeviceError) {
        let result = posix_fadvise(descriptor, off_t(offset), off_t(length), POSIX_FADV_WILLNEED)
        if result != 0 { throw DeviceError(errno: result, "posix_fadvise \(path)") }
    }

    public func close() async throws(DeviceError) {
        if !isReadOnly { try await flush() }
    }
}

/// Why a file could not be opened as a device; each says what to do.
public enum FileDeviceError: Error, CustomStringConvertible {
    case open(path: String, errno: Int32)
    case notAFileOrBlockDevice(path: String)
    case inUse(path: String, holder: FileLockHolder)
    case sizeMismatch(path: String, actual: UInt64, requested: UInt64)

    public var description: String {
        switch self {
        case let .open(path, code):
            "cannot open \(path): \(String(cString: strerror(code)))"
        case let .notAFileOrBlockDevice(path):
            "\(path) is neither a regular file nor a block device"
        case let .inUse(path, .thisProcess):
            "\(path) is already open for writing by another device of this process (a file backs one writable export at a time)"
        case let .inUse(path, holder):
            "\(path) is in use: \(holder) holds its lock; stop that process or pick another file"
        case let .sizeMismatch(path, actual, requested):
            "\(path) already exists with \(actual) bytes, but size=\(requested) was asked for; drop size= to use the file as it is"
        }
    }
}
