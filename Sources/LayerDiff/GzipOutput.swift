import CZlib

/// Compresses with gzip (zlib's deflate, a gzip header with no name and
/// time 0, so the same layer gives the same bytes) in front of another output.
public final class GzipOutput<Base: LayerOutput>: LayerOutput {
    private var base: Base
    /// zlib keeps a pointer back to its stream: the stream must not move.
    private let stream: UnsafeMutablePointer<z_stream>
    private var output = [UInt8](repeating: 0, count: 1 << 18)

    public init(base: Base) throws(LayerDiffError) {
        self.base = base
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_deflate_init_gzip(stream, Z_DEFAULT_COMPRESSION)
        guard status == Z_OK else {
            stream.deallocate()
            throw LayerDiffError("start gzip compression: zlib status \(status)")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(LayerDiffError) {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: start.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(bytes.count)
        while stream.pointee.avail_in > 0 { try deflateOnce(Z_NO_FLUSH) }
    }

    public func finish() throws(LayerDiffError) {
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        while try deflateOnce(Z_FINISH) != Z_STREAM_END {}
        try base.finish()
    }

    @discardableResult
    private func deflateOnce(_ flush: Int32) throws(LayerDiffError) -> Int32 {
        let count = output.count
        let (status, produced) = output.withUnsafeMutableBufferPointer { buffer in
            stream.pointee.next_out = buffer.baseAddress
            stream.pointee.avail_out = uInt(count)
            let status = deflate(stream, flush)
            return (status, count - Int(stream.pointee.avail_out))
        }
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw LayerDiffError("gzip compression: zlib status \(status)")
        }
        if produced > 0 {
            try withBytes(output) { (raw) throws(LayerDiffError) in
                try base.write(UnsafeRawBufferPointer(rebasing: raw[..<produced]))
            }
        }
        return status
    }
}
