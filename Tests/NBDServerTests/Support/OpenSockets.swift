import Foundation

/// Counts the sockets this process holds on the server side of one Unix
/// socket path: the listener and every connection it accepted (Linux lists
/// an accepted socket under its listener's path in /proc/net/unix; client
/// ends have no path). Counting by path, not all sockets, keeps the count
/// exact while other suites in the same process (librados, replication
/// tests) open and close sockets of their own.
enum OpenSockets {
    static func count(servedAt path: String) -> Int {
        let inodes = socketInodes(boundTo: path)
        guard !inodes.isEmpty else { return 0 }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { entry in
            var target = [UInt8](repeating: 0, count: 256)
            let length = readlink("/proc/self/fd/" + entry, &target, target.count)
            guard length > 0 else { return false }
            let text = String(decoding: target[..<length], as: UTF8.self)
            // "socket:[12345]"
            guard text.hasPrefix("socket:["), text.hasSuffix("]") else { return false }
            return inodes.contains(String(text.dropFirst(8).dropLast()))
        }.count
    }

    /// Inodes of the Unix sockets whose path is `path`, from /proc/net/unix
    /// ("Num RefCount Protocol Flags Type St Inode Path").
    private static func socketInodes(boundTo path: String) -> Set<String> {
        guard let table = try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8) else { return [] }
        var inodes: Set<String> = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 8, fields[7] == path { inodes.insert(String(fields[6])) }
        }
        return inodes
    }

    /// Waits until at most `limit` such sockets are open, for at most
    /// `timeout`; returns the last count seen. Connections close on their
    /// own threads after the client's side has gone, so this is a condition
    /// to wait for.
    static func waitUntilAtMost(_ limit: Int, servedAt path: String, timeout: Duration = .seconds(10)) -> Int {
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
