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
/// Reads are at most `chunkLength` each, run on the blocking pool, and each
/// is written to the connection (which applies back-pressure) before the
/// next starts: one chunk per response in memory, whatever the blob's size.
enum BlobStream {
    /// 1 MiB: large enough that the thread hop per read is noise, small
    /// enough that a thousand concurrent pulls stay within a gigabyte.
    static let chunkLength = 1 << 20

    static func body(_ blob: OpenBlob, offset: UInt64, length: UInt64, pool: BlockingPool) -> ResponseBody {
        ResponseBody(contentLength: Int(length)) { writer in
            var position = offset
            let end = offset + length
            while position < end {
                let (at, wanted) = (position, Int(min(UInt64(chunkLength), end - position)))
                let chunk = try await pool.run { () throws(StorageError) -> ByteBuffer in
                    try read(blob, at: at, length: wanted)
                }
                // A file that shrank under us (damage from outside: blobs are
                // never rewritten) must end the response, not loop forever.
                guard chunk.readableBytes > 0 else {
                    throw StorageError.system(operation: "read blob (shorter than its size)", path: "", errno: EIO)
                }
                position += UInt64(chunk.readableBytes)
                try await writer.write(chunk)
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
