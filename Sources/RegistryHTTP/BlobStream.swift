import Glibc
import Hummingbird
import RegistryStorage

/// An open blob shared by the tasks that stream it: `BlobReader` cannot be
/// copied, and a response body closure must be able to capture it.
final class OpenBlob: Sendable {
    let reader: BlobReader

    init(_ reader: consuming BlobReader) {
        self.reader = reader
    }
}

/// A response body that streams a byte range of a blob from its file.
///
/// Reads are at most `chunkLength` each and run on the blocking pool; the
/// next chunk is read while the connection (which applies back-pressure)
/// takes the current one, so the disk and the socket overlap: at most two
/// chunks per response in memory, whatever the blob's size.
enum BlobStream {
    /// 1 MiB: large enough that the thread hop per read is noise, small
    /// enough that a thousand concurrent pulls stay within a gigabyte.
    static let chunkLength = 1 << 20

    static func body(_ blob: OpenBlob, offset: UInt64, length: UInt64, pool: BlockingPool) -> ResponseBody {
        ResponseBody(contentLength: Int(length)) { writer in
            let end = offset + length
            /// Reads the chunk at `at` on the pool, started at once.
            func reading(at: UInt64) -> Task<ByteBuffer, any Error> {
                let wanted = Int(min(UInt64(chunkLength), end - at))
                return Task { try await pool.run { () throws(StorageError) -> ByteBuffer in try read(blob, at: at, length: wanted) } }
            }
            var next = length > 0 ? reading(at: offset) : nil
            var position = offset
            while let current = next {
                let chunk = try await current.value
                // A file that shrank under us (damage from outside: blobs are
                // never rewritten) must end the response, not loop forever.
                guard chunk.readableBytes > 0 else {
                    throw StorageError.system(operation: "read blob (shorter than its size)", path: "", errno: EIO)
                }
                position += UInt64(chunk.readableBytes)
                next = position < end ? reading(at: position) : nil
                do {
                    try await writer.write(chunk)
                } catch {
                    next?.cancel()
                    _ = try? await next?.value  // never leave a read running on a blob being closed
                    throw error
                }
            }
            try await writer.finish(nil)
        }
    }

    /// Reads straight into a new buffer, with no intermediate copy.
    private static func read(_ blob: OpenBlob, at offset: UInt64, length: Int) throws(StorageError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var failure: StorageError?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            do throws(StorageError) {
                return try blob.reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw.prefix(length)), at: offset)
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        return buffer
    }
}
