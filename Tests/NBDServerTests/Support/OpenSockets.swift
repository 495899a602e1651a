import Foundation

/// Counts this process's open sockets through /proc/self/fd. Only sockets
/// are counted: they are all the server ever opens, and other test targets
/// running in the same process open files, not sockets.
enum OpenSockets {
    static func count() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { entry in
            var target = [UInt8](repeating: 0, count: 256)
            let length = readlink("/proc/self/fd/" + entry, &target, target.count)
            return length > 0 && String(decoding: target[..<length], as: UTF8.self).hasPrefix("socket:")
        }.count
    }

    /// Waits until at most `limit` sockets are open, for at most `timeout`;
    /// returns the last count seen. Connections close on their own threads
    /// after the client's side has gone, so this is a condition to wait for.
    static func waitUntilAtMost(_ limit: Int, timeout: Duration = .seconds(10)) -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var seen = count()
        while seen > limit && clock.now < deadline {
            usleep(10_000)
            seen = count()
        }
        return seen
    }
}
