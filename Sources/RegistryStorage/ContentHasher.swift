import Crypto
import Glibc
import RegistryCore

/// A running hash for one of the supported digest algorithms.
struct ContentHasher {
    private enum State {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    let algorithm: DigestAlgorithm

    init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var hash):
            hash.update(bufferPointer: bytes)
            state = .sha256(hash)
        case .sha512(var hash):
            hash.update(bufferPointer: bytes)
            state = .sha512(hash)
        }
    }

    /// The digest so far; the hasher itself keeps running (finalize works on a copy).
    func digest() -> RegistryCore.Digest {
        switch state {
        case .sha256(let hash): RegistryCore.Digest(algorithm: .sha256, hashBytes: hash.finalize())
        case .sha512(let hash): RegistryCore.Digest(algorithm: .sha512, hashBytes: hash.finalize())
        }
    }

    /// The digest of `bytes` in one call.
    static func digest(of bytes: [UInt8], algorithm: DigestAlgorithm) -> RegistryCore.Digest {
        var hasher = ContentHasher(algorithm)
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.digest()
    }

    /// Feeds the first `length` bytes of `file` through the hasher in 1 MiB
    /// reads: how an upload's hash is rebuilt after a restart, and how a blob
    /// is hashed with another algorithm than the one kept while uploading.
    mutating func update(from file: borrowing DurableFile, length: UInt64) throws(StorageError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: UInt64 = 0
        while offset < length {
            let wanted = Int(min(UInt64(buffer.count), length - offset))
            let count = try file.read(into: &buffer, range: 0..<wanted, at: offset)
            guard count > 0 else { throw .system(operation: "read (file shorter than expected)", path: file.path, errno: EIO) }
            buffer.withUnsafeBytes { update(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            offset += UInt64(count)
        }
    }
}

// Safety: SHA256 and SHA512 are value types whose BoringSSL context is
// copy-on-write, like Array's storage; swift-crypto 3 just does not declare
// them Sendable. Copies of a hasher may live on different threads, and each
// copy is only ever mutated by the one upload that owns it.
extension ContentHasher: @unchecked Sendable {}
