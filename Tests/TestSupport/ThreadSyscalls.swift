import Foundation
import Glibc

/// Which system call a thread of this process is in, read from
/// `/proc/self/task/TID/syscall`: the number and its six arguments while it
/// is blocked in one, nil while it runs or if the thread has gone.
public struct ThreadSyscall: Equatable, Sendable {
    public let number: Int
    public let arguments: [UInt64]

    public init?(thread: Int32) {
        guard let text = try? readProcFile("/proc/self/task/\(thread)/syscall") else { return nil }
        let fields = text.split(separator: " ")
        // "running" while on a CPU; "-1 sp pc" when not in a system call.
        guard fields.count >= 7, let number = Int(fields[0]), number >= 0 else { return nil }
        self.number = number
        arguments = fields[1...6].map { UInt64($0.dropFirst(2), radix: 16) ?? 0 }
    }

    /// A blocking `recv` on `descriptor` (recvfrom with no flags): the
    /// thread is waiting for that socket's next bytes and not polling.
    public func isBlockingReceive(on descriptor: Int32) -> Bool {
        number == Self.recvfrom && arguments[0] == UInt64(descriptor) && arguments[3] == 0
    }

    /// recvfrom's number (Glibc's SYS_recvfrom is a macro Swift cannot import).
    #if arch(x86_64)
        static let recvfrom = 45
    #elseif arch(arm64)
        static let recvfrom = 207
    #endif

    /// The thread of this process now blocked in a `recv` on `descriptor`.
    public static func threadBlockedReceiving(on descriptor: Int32) -> Int32? {
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return threads.compactMap { Int32($0) }.first { ThreadSyscall(thread: $0)?.isBlockingReceive(on: descriptor) == true }
    }
}

/// `strace` attached to one thread of this process, recording the calls it
/// is told to: how a test sees what a thread asked of the kernel (whether a
/// reader polled, say) without timing it.
public final class SyscallTrace: Sendable {
    private let pid: pid_t
    private let output: String

    /// Attaches to `thread` and returns once it is traced.
    public init(thread: Int32, calls: [String]) async throws {
        output = NSTemporaryDirectory() + "buse-strace-\(getpid())-\(thread)-\(UInt64.random(in: 0...UInt64.max)).txt"
        pid = try Self.spawn(["/usr/bin/strace", "-qq", "-p", "\(thread)", "-e", "trace=\(calls.joined(separator: ","))", "-o", output])
        try await waitUntil("strace is attached to thread \(thread)") { [pid] in
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { throw TraceError.exited(status) }
            return Self.tracer(of: thread) == pid
        }
    }

    /// Detaches and returns the calls recorded, by name, one per call.
    public func stop() -> [String] {
        kill(pid, SIGINT)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        defer { unlink(output) }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in line.split(separator: "(", maxSplits: 1).first.map(String.init) }
    }

    /// Starts `arguments` with no signal blocked. A process started from a
    /// thread of Swift's pool (Foundation's `Process` included) inherits
    /// that thread's mask, which blocks nearly every signal, and strace
    /// keeps the mask it started with: it would never see the SIGINT that
    /// tells it to detach.
    private static func spawn(_ arguments: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], nil, &attributes, argv, environ)
        guard result == 0 else { throw TraceError.spawn(result) }
        return pid
    }

    private static func tracer(of thread: Int32) -> Int32? {
        guard let status = try? readProcFile("/proc/self/task/\(thread)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("TracerPid:") })
        else { return nil }
        return Int32(line.dropFirst("TracerPid:".count).trimmingCharacters(in: .whitespaces))
    }

    public enum TraceError: Error, CustomStringConvertible {
        case spawn(Int32)
        case exited(Int32)

        public var description: String {
            switch self {
            case let .spawn(code): "cannot start strace: \(String(cString: strerror(code)))"
            case let .exited(status): "strace exited (wait status \(status)) before it attached"
            }
        }
    }
}
