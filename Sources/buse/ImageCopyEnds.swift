import BlockDevices
import DeviceCatalog
import DeviceLayers
import Glibc
import LocalDevices
import RadosDevice

/// Opening the ends of `buse image import|export|copy`, with the refusals
/// that keep a copy from overwriting what nobody asked it to.
enum ImageCopyEnds {
    /// An import's SOURCE: a device URI when it starts with a scheme buse
    /// knows (`file:`, `rados:`, `memory:`), else a path to a regular file
    /// or a block device. Opened read-only; a file served by a running
    /// buse writer is refused (it takes a shared lock).
    static func source(_ text: String) throws -> ImageCopyEnd {
        if let uri = try? DeviceURI(parsing: text), DeviceCatalog.schemes.contains(uri.scheme) {
            do {
                return ImageCopyEnd(try DeviceCatalog.open(uri, readOnly: true), name: text)
            } catch {
                throw CommandLineError("cannot open the source: \(error)")
            }
        }
        do {
            return ImageCopyEnd(try FileDevice(path: text, readOnly: true), name: text)
        } catch {
            throw CommandLineError("cannot open the source: \(error)")
        }
    }

    /// An image to copy from, opened with its writer lock: nobody writes it
    /// while it is copied (the copy is of one moment), and the lock makes
    /// its object map trustworthy, so objects never written are not read.
    static func imageSource(
        _ spec: String, cluster: Image.ClusterOptions, breakLock: Bool
    ) throws -> (end: ImageCopyEnd, objectSize: UInt64) {
        let (poolName, image) = try Image.split(spec)
        let pool = try cluster.pool(poolName)
        let device: RadosBlockDevice
        do {
            device = try RadosBlockDevice(pool: pool, image: image, readOnly: false, breakLock: breakLock)
        } catch {
            pool.close()
            throw error
        }
        var end = ImageCopyEnd(ReadOnlyDevice(device), name: spec)
        end.close = { () async throws(DeviceError) in try await device.close() }
        end.release = { pool.close() }
        return (end, device.objectSize)
    }

    /// An image to copy into: a new one of `size` bytes (refused if it
    /// exists), removed again if the copy fails; or, with `existing`, one
    /// that exists and holds at least `size` bytes. Also says whether it
    /// reads as zeros (a new image does) and its object size.
    static func imageDestination(
        _ spec: String, size: UInt64, objectSize: UInt64, existing: Bool, breakLock: Bool, cluster: Image.ClusterOptions
    ) throws -> (end: ImageCopyEnd, isBlank: Bool, objectSize: UInt64) {
        let (poolName, image) = try Image.split(spec)
        guard size > 0 else { throw CommandLineError("the source is empty (0 bytes): there is nothing to copy") }
        let pool = try cluster.pool(poolName)
        if existing {
            let device: RadosBlockDevice
            do {
                // The size is checked before the lock is taken: a refusal leaves no lock behind.
                let header = try RadosImage.info(pool, image)
                guard header.size >= size else {
                    throw CommandLineError(
                        "image \(spec) holds \(header.size) bytes, fewer than the source's \(size); "
                            + "grow it first with `buse image resize \(spec) --size \(size)`")
                }
                device = try RadosBlockDevice(pool: pool, image: image, readOnly: false, breakLock: breakLock)
            } catch {
                pool.close()
                throw error
            }
            var end = ImageCopyEnd(device, name: spec)
            end.afterFailure = { "\(spec) now holds part of the source and part of what it held before" }
            end.release = { pool.close() }
            return (end, false, device.objectSize)
        }
        let device: RadosBlockDevice
        do {
            try RadosImage.create(pool, image, size: size, objectSize: objectSize)
        } catch .imageExists {
            pool.close()
            throw CommandLineError(
                "image \(spec) already exists; pass --existing to copy into it, or remove it first with `buse image rm \(spec)`")
        } catch {
            pool.close()
            throw error
        }
        do {
            device = try RadosBlockDevice(pool: pool, image: image, readOnly: false)
        } catch {
            try? RadosImage.remove(pool, image, breakLock: true)
            pool.close()
            throw error
        }
        var end = ImageCopyEnd(device, name: spec)
        end.afterFailure = {
            do {
                try RadosImage.remove(pool, image, breakLock: true)
                return "removed the partly written image \(spec)"
            } catch {
                return
                    "the partly written image \(spec) could not be removed (\(error)); remove it with `buse image rm \(spec) --break-lock`"
            }
        }
        end.release = { pool.close() }
        return (end, true, objectSize)
    }

    /// An export's DEST: a new file, made sparse with `size` bytes and
    /// removed again if the copy fails; with `overwrite`, an existing file
    /// (emptied first, so it too ends sparse) or a block device of at
    /// least `size` bytes. Also says whether it reads as zeros.
    static func fileDestination(_ path: String, size: UInt64, overwrite: Bool) throws -> (end: ImageCopyEnd, isBlank: Bool) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            guard errno == ENOENT else { throw CommandLineError("cannot use \(path): \(String(cString: strerror(errno)))") }
            var end = ImageCopyEnd(try openFile(path, createSize: size), name: path)
            end.afterFailure = {
                unlink(path) == 0
                    ? "removed the partly written file \(path)"
                    : "the partly written file \(path) could not be removed: \(String(cString: strerror(errno)))"
            }
            return (end, true)
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            guard overwrite else { throw CommandLineError("\(path) exists; pass --overwrite to replace it") }
            try empty(path)
            var end = ImageCopyEnd(try openFile(path, createSize: size), name: path)
            end.afterFailure = { "\(path) holds a partial copy" }
            return (end, true)
        case S_IFBLK:
            guard overwrite else {
                throw CommandLineError("\(path) is a block device; pass --overwrite to write the image over what it holds")
            }
            let device = try openFile(path, createSize: nil)
            guard device.size >= size else {
                throw CommandLineError("\(path) holds \(device.size) bytes, fewer than the image's \(size)")
            }
            var end = ImageCopyEnd(device, name: path)
            end.afterFailure = { "\(path) holds a partial copy" }
            return (end, false)
        default:
            throw CommandLineError("\(path) is neither a regular file nor a block device")
        }
    }

    private static func openFile(_ path: String, createSize: UInt64?) throws -> FileDevice {
        do {
            return try FileDevice(path: path, createSize: createSize)
        } catch {
            throw CommandLineError("cannot use \(path) as the destination: \(error)")
        }
    }

    /// Truncates an existing file to nothing, under the same exclusive lock
    /// a buse writer takes, so a file in use is refused rather than emptied.
    private static func empty(_ path: String) throws {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw CommandLineError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw CommandLineError("\(path) is in use by another process (it holds the file's lock); stop it first")
        }
        guard ftruncate(descriptor, 0) == 0 else {
            throw CommandLineError("cannot empty \(path): \(String(cString: strerror(errno)))")
        }
    }
}
