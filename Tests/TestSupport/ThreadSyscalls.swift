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
/// reader polled, say) without timing it. A ``ChildProcess``: started with
/// no signal blocked, since strace keeps the mask it starts with and would
/// otherwise never see the SIGINT that tells it to detach.
public final class SyscallTrace: Sendable {
    private let strace: ChildProcess
    private let output: String

    /// Attaches to `thread` and returns once it is traced.
    public init(thread: Int32, calls: [String]) async throws {
        output = NSTemporaryDirectory() + "buse-strace-\(getpid())-\(thread)-\(UInt64.random(in: 0...UInt64.max)).txt"
        let strace = try ChildProcess(
            "/usr/bin/strace", ["-qq", "-p", "\(thread)", "-e", "trace=\(calls.joined(separator: ","))", "-o", output],
            outputPrefix: nil)
        self.strace = strace
        try await waitUntil("strace is attached to thread \(thread)") {
            if let ended = strace.termination { throw TraceError.ended(ended) }
            return Self.tracer(of: thread) == strace.processIdentifier
        }
    }

    /// Detaches and returns the calls recorded, by name, one per call.
    public func stop() async throws -> [String] {
        strace.send(SIGINT)
        guard await strace.waitForTermination(timeout: .seconds(120)) != nil else {
            strace.send(SIGKILL)
            throw TraceError.didNotDetach
        }
        defer { unlink(output) }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in line.split(separator: "(", maxSplits: 1).first.map(String.init) }
    }

    private static func tracer(of thread: Int32) -> Int32? {
        guard let status = try? readProcFile("/proc/self/task/\(thread)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("TracerPid:") })
        else { return nil }
        return Int32(line.dropFirst("TracerPid:".count).trimmingCharacters(in: .whitespaces))
    }

    public enum TraceError: Error, CustomStringConvertible {
        case ended(Termination)
        case didNotDetach

        public var description: String {
            switch self {
            case let .ended(how): "strace \(how) before it attached"
            case .didNotDetach: "strace did not detach within 120 s of SIGINT"
            }
        }
    }
}
