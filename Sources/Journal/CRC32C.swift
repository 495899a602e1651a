import CCRC32C

/// CRC-32C (Castagnoli), the checksum of logged writes and of `buse verify`.
/// Computed in C with the CPU's crc32 instruction where it has one.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        buse_crc32c(initial, bytes.baseAddress, bytes.count)
    }
}
