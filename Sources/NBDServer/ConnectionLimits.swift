/// Bounds on what one connection may hold at once. When either is reached the
/// reader stops reading, and TCP flow control pushes back on the client.
public struct ConnectionLimits: Sendable {
    /// Requests being executed or whose replies are not yet sent. 128 is
    /// twice the deepest queue common clients use (qemu and the kernel: 64;
    /// fio runs here: 32).
    public var requestsInFlight: Int
    /// Payload bytes held by those requests: four maximum-size requests, so a
    /// connection costs at most 128 MiB of buffers however it behaves.
    public var bytesInFlight: Int

    public init(requestsInFlight: Int = 128, bytesInFlight: Int = 128 * 1024 * 1024) {
        self.requestsInFlight = requestsInFlight
        self.bytesInFlight = bytesInFlight
    }
}
