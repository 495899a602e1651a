import Glibc

/// Where a layer's bytes go: a file descriptor, or a compressor in front of one.
public protocol LayerOutput {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(LayerDiffError)
    /// Writes whatever is still held back (a compressor's trailer).
    mutating func finish() throws(LayerDiffError)
}

/// An open file descriptor, written whole (`write` until every byte is taken).
/// It does not own the descriptor.
public struct FileDescriptorOutput: LayerOutput {
    public let descriptor: Int32

    public init(descriptor: Int32) { self.descriptor = descriptor }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(LayerDiffError) {
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw LayerDiffError("write the layer", errno: errno)
            }
            offset += count
        }
    }

    public mutating func finish() throws(LayerDiffError) {}
}
