import Foundation

/// Counts the sockets this process holds on the server side of one Unix
/// socket path: the listener and every connection it accepted (an accepted
/// socket's own address is its listener's path; a client end has none).
/// Counting by path, not all sockets, keeps the count exact while other
/// suites in the same process (librados, replication tests) open and close
/// sockets of their own.
enum OpenSockets {
    static func count(servedAt path: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap { Int32($0) }.filter { boundPath(of: $0) == path }.count
    }

    /// The path a Unix socket is bound to (getsockname), or nil for anything
    /// else: another kind of file, an unbound socket, or a descriptor closed
    /// since the listing.
    private static func boundPath(of descriptor: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard result == 0, address.sun_family == sa_family_t(AF_UNIX),
            length > socklen_t(MemoryLayout<sa_family_t>.size)
        else { return nil }
        return withUnsafeBytes(of: address.sun_path) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Waits until at most `limit` such sockets are open, for at most
    /// `timeout`; returns the last count seen. Connections close on their
    /// own threads after the client's side has gone, so this is a condition
    /// to wait for.
    static func waitUntilAtMost(_ limit: Int, servedAt path: String, timeout: Duration = .seconds(120)) -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var seen = count(servedAt: path)
        while seen > limit && clock.now < deadline {
            usleep(10_000)
            seen = count(servedAt: path)
        }
        return seen
    }
}
