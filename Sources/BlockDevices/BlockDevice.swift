/// A block device whose data lives in user space: the one abstraction every
/// buse device (memory, file, RADOS) and every layer (emulation, journal,
/// replication, fault injection) implements.
///
/// ## Who checks what
/// The NBD engine validates every request before a device sees it, so a
/// device may rely on these preconditions and need not re-check them:
/// - `offset + length <= size` for every ranged operation, with `length > 0`;
/// - a buffer is never longer than the engine's maximum payload (32 MiB);
/// - writes, trims and zeroes never reach a device whose capabilities say
///   `isReadOnly`;
/// - an operation the capabilities declare unsupported is never called
///   (the ``EmulatedDevice`` layer fills in what it can, such as zeroing by
///   writes, before the engine advertises anything).
/// A device that is called against these rules has met a bug in buse and may
/// trap.
///
/// ## Errors
/// Operating failures (an I/O error, a full disk, a cluster that timed out)
/// are thrown as ``DeviceError``; the engine logs the cause and maps the kind
/// to exactly one NBD error value.
///
/// ## Concurrency
/// Devices are `Sendable` and safe under concurrent calls: the engine keeps
/// many requests in flight per connection and serves many connections. Two
/// concurrent writes to overlapping ranges may land in either order, as on a
/// disk. A buffer passed to an operation belongs to the device only until the
/// operation returns; a device must not keep it (RADOS waits for librados to
/// release a buffer before it returns).
public protocol BlockDevice: Sendable {
    /// The size in bytes. Fixed while the device is open.
    var size: UInt64 { get }

    /// What the device can do, and how; the engine advertises these truthfully.
    var capabilities: DeviceCapabilities { get }

    /// Fills `buffer` with the bytes at `offset`. Regions never written read as zeros.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(DeviceError)

    /// Starts the same read as ``read(into:at:)`` without a task around it,
    /// on the terms of ``startWrite(_:at:fua:whenDone:)``: true when started
    /// (`buffer` is the device's until `whenDone`, called exactly once, has
    /// run), false, having done nothing, when there is no such path.
    func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool

    /// Writes `data` at `offset`. With `fua` the data is on stable storage
    /// when this returns (only called with `fua` when `capabilities.fua` is `.native`).
    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError)

    /// Starts the same write as ``write(_:at:fua:)`` without a task around
    /// it, for devices whose writes wait on someone else's thread (a
    /// cluster's callback, a replication peer's answer): the engine then
    /// makes no task per write, and `whenDone` answers the client from the
    /// thread that ends the write. A device whose write never waits (a
    /// file) may start it too, completing it at once, for a layer above
    /// that starts its own work around it (replication).
    ///
    /// Returns true when the write was started; `whenDone` is then called
    /// exactly once, with nil or the error `write` would have thrown, on any
    /// thread, possibly before this returns. `data` belongs to the device
    /// until then. Returns false, having done nothing and calling nothing,
    /// when this device (or this particular write) has no such path; the
    /// caller then uses `write`. The default returns false, and so does
    /// every layer that does not pass it on deliberately: a layer that
    /// changes writes must not be skipped.
    func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool

    /// Makes every write that completed before this call durable.
    func flush() async throws(DeviceError)

    /// Tells the device that a range is no longer needed. Its content afterwards
    /// is unspecified (most devices read it as zeros); neighbours are untouched.
    func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError)

    /// Makes a range read as zeros. See ``ZeroOptions`` for hole punching and
    /// the fast-zero contract.
    func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError)

    /// Describes allocation from `offset` on: one or more extents, in order,
    /// starting at `offset`, whose lengths add up to at least 1 byte and at most
    /// `length` (a device may answer for less than asked; the engine asks again
    /// where it needs more).
    func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent]

    /// A hint to bring a range into a faster tier (NBD_CMD_CACHE). May do nothing.
    func cache(at offset: UInt64, length: UInt64) async throws(DeviceError)

    /// Releases the device: flushes what needs flushing and frees its resources
    /// (file descriptors, locks, cluster handles). Called once, after the last operation.
    func close() async throws(DeviceError)
}

extension BlockDevice {
    /// A device implements only what its capabilities say it does: a
    /// read-only device has no write, a device that cannot trim or zero has
    /// no trim or zero. These defaults refuse with the error the engine
    /// itself gives for such a request, should a caller other than the
    /// engine (which never makes it) send one.
    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        throw .refused("write", by: capabilities)
    }

    /// Most devices have no read without a task; see ``BlockDevice/startRead(into:at:whenDone:)``.
    public func startRead(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        false
    }

    /// Most devices have no write without a task; see ``BlockDevice/startWrite(_:at:fua:whenDone:)``.
    public func startWrite(
        _ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool,
        whenDone: @escaping @Sendable (DeviceError?) -> Void
    ) -> Bool {
        false
    }

    public func trim(at offset: UInt64, length: UInt64, fua: Bool) async throws(DeviceError) {
        throw .refused("trim", by: capabilities)
    }

    public func zero(at offset: UInt64, length: UInt64, options: ZeroOptions) async throws(DeviceError) {
        throw .refused("zero", by: capabilities)
    }

    /// Devices without a faster tier accept the hint and do nothing.
    public func cache(at offset: UInt64, length: UInt64) async throws(DeviceError) {}

    /// Devices that do not track allocation report everything as data.
    public func blockStatus(at offset: UInt64, length: UInt64) async throws(DeviceError) -> [Extent] {
        [Extent(length: length, flags: [])]
    }

    public func close() async throws(DeviceError) {}
}
