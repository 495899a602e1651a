/// Array forms of the positional calls. `withUnsafeBytes` only rethrows
/// untyped errors, so the typed error travels out through a `Result`.
extension DurableFile {
    func write(_ bytes: [UInt8], at offset: UInt64) throws(StorageError) {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(StorageError) in try write(buffer, at: offset) }
        }.get()
    }

    /// Reads into `bytes[range]`; returns how many bytes arrived.
    func read(into bytes: inout [UInt8], range: Range<Int>, at offset: UInt64) throws(StorageError) -> Int {
        try bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(StorageError) in try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[range]), at: offset) }
        }.get()
    }
}
