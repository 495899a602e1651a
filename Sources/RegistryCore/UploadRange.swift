/// The `Content-Range` of a chunked upload PATCH, checked against the upload.
///
/// distribution (and the OCI spec) write it `<start>-<end>`, inclusive, with
/// no unit; `bytes <start>-<end>` and `bytes=<start>-<end>` are accepted too
/// since some clients send them. Chunks must arrive in order: a chunk that
/// does not start exactly at the upload's current size is answered 416 with
/// the current `Range`, so the client can resume from there.
public struct UploadRange: Sendable, Equatable {
    public let start: UInt64
    /// Inclusive.
    public let end: UInt64
    public var length: UInt64 { end - start + 1 }

    /// Checks the header against the current upload size and, when known,
    /// the request's `Content-Length`.
    public init(header: String, currentSize: UInt64, contentLength: UInt64?) throws(RegistryError) {
        guard let (start, end) = Self.parse(header) else {
            throw RegistryError(.rangeInvalid, message: "malformed Content-Range", detail: ["Content-Range": String(header.prefix(64))])
        }
        guard start == currentSize else {
            throw RegistryError(.rangeInvalid, message: "chunk out of order", detail: ["expected start": String(currentSize)])
        }
        if let contentLength, contentLength != end - start + 1 {
            throw RegistryError(.sizeInvalid, message: "Content-Length does not match Content-Range")
        }
        self.start = start
        self.end = end
    }

    private static func parse(_ header: String) -> (UInt64, UInt64)? {
        var spec = header.trimmingASCIISpaces()
        for prefix in ["bytes=", "bytes "] where spec.lowercased().hasPrefix(prefix) {
            spec = spec.dropFirst(prefix.count).trimmingASCIISpaces()
        }
        let parts = spec.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = UInt64(decimal: parts[0]), let end = UInt64(decimal: parts[1]), end >= start else {
            return nil
        }
        return (start, end)
    }

    /// The `Range` header the registry reports for an upload of `size` bytes:
    /// `0-<size-1>`, and `0-0` for an empty upload, as distribution sends.
    public static func rangeHeader(size: UInt64) -> String {
        "0-\(size == 0 ? 0 : size - 1)"
    }
}
