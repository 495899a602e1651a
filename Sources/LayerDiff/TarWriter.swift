/// Writes tar members to an output through one buffer: a header, then
/// exactly `size` bytes of content for a regular file, padded to a block.
/// Giving a member more or fewer bytes than its header said is our bug and
/// traps; a failing output throws.
public struct TarWriter<Output: LayerOutput> {
    /// Where the bytes went (a memory output's bytes, after ``finish()``).
    public private(set) var output: Output
    private var buffer: [UInt8] = []
    /// Content bytes the current member still expects.
    private var remaining: UInt64 = 0
    private var padding = 0

    /// Writes reach the output in chunks of this many bytes: large enough
    /// that a diff of big files costs few system calls.
    static var bufferLength: Int { 1 << 20 }

    public init(output: Output) {
        self.output = output
        buffer.reserveCapacity(Self.bufferLength)
    }

    /// Starts a member; a regular file's content follows through ``appendContent(_:)``.
    public mutating func append(_ entry: TarEntry) throws(LayerDiffError) {
        precondition(remaining == 0, "a tar member started before the previous one's content was complete")
        try put(TarHeader.encode(entry))
        remaining = entry.kind == .regular ? entry.size : 0
        padding = TarHeader.padding(remaining)
        if remaining == 0 { try endMember() }
    }

    /// Content of the current member, in order.
    public mutating func appendContent(_ bytes: UnsafeRawBufferPointer) throws(LayerDiffError) {
        precondition(UInt64(bytes.count) <= remaining, "more content than the tar header announced")
        remaining -= UInt64(bytes.count)
        try put(bytes)
        if remaining == 0 { try endMember() }
    }

    /// The bytes of content the current member still expects.
    public var contentRemaining: UInt64 { remaining }

    /// Ends the archive (two zero blocks) and flushes everything.
    public mutating func finish() throws(LayerDiffError) {
        precondition(remaining == 0, "the archive ended inside a member's content")
        try put(TarHeader.endOfArchive)
        try flush()
        try output.finish()
    }

    private mutating func endMember() throws(LayerDiffError) {
        if padding > 0 { try put([UInt8](repeating: 0, count: padding)) }
        padding = 0
    }

    private mutating func put(_ bytes: [UInt8]) throws(LayerDiffError) {
        try withBytes(bytes) { (raw) throws(LayerDiffError) in try put(raw) }
    }

    private mutating func put(_ bytes: UnsafeRawBufferPointer) throws(LayerDiffError) {
        if buffer.count + bytes.count > Self.bufferLength { try flush() }
        if bytes.count >= Self.bufferLength {
            try output.write(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    private mutating func flush() throws(LayerDiffError) {
        guard !buffer.isEmpty else { return }
        try withBytes(buffer) { (raw) throws(LayerDiffError) in try output.write(raw) }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// `array.withUnsafeBytes` keeping `body`'s typed error (the standard
/// library's version rethrows it as `any Error`).
func withBytes<R>(
    _ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(LayerDiffError) -> R
) throws(LayerDiffError) -> R {
    let result = array.withUnsafeBytes { raw in Result { () throws(LayerDiffError) in try body(raw) } }
    return try result.get()
}
