/// What the server as a whole admits, so a flood of clients cannot take it
/// down: every connection costs a thread (and its stack) until it ends.
public struct AdmissionLimits: Sendable {
    /// A client that has not finished negotiating by then is closed: without
    /// it, connections that take the greeting and say nothing stay open for
    /// ever (measured here: 5,000 of them held 5,006 threads and 125 MiB, as
    /// nbdkit 1.32 does too). A real client negotiates in milliseconds; 30 s
    /// leaves room for a slow link and a loaded host.
    public var handshakeTimeout: Duration
    /// Connections beyond this are closed as soon as they are accepted (and
    /// counted, and logged at most once per interval). The kernel uses up to
    /// 16 per device and qemu one per disk: 1024 serves many hosts and keeps
    /// the worst case at 1024 threads.
    public var connectionsMaximum: Int

    public init(handshakeTimeout: Duration = .seconds(30), connectionsMaximum: Int = 1024) {
        self.handshakeTimeout = handshakeTimeout
        self.connectionsMaximum = connectionsMaximum
    }
}
