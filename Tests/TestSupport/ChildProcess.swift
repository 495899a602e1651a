import Foundation
public import Glibc
import Synchronization

/// How a child process ended.
public enum Termination: Equatable, Sendable, CustomStringConvertible {
    case exit(Int32)
    case signal(Int32)

    public var description: String {
        switch self {
        case let .exit(status): "exited with status \(status)"
        case let .signal(number): "was killed by signal \(number) (\(String(cString: strsignal(number))))"
        }
    }
}

/// A started child process whose end can be awaited with a bound. Its
/// standard output and error go to files, so a chatty child never blocks on
/// a full pipe and the output can still be read after a failure.
///
/// Started with posix_spawn, not Foundation's Process: Process hands the
/// child the signal mask of whichever thread spawns it, and the test
/// runner's threads block SIGTERM, so servers would never see it. Here every
/// child starts as a supervisor would start it: nothing blocked, every
/// signal at its default action.
public final class ChildProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    public let stdoutPath: String
    public let stderrPath: String
    public let processIdentifier: pid_t
    private let ending = Ending()

    /// Starts `executable` (an absolute path) with `arguments`, in
    /// `currentDirectory` if given (where any stray files it writes land);
    /// output goes to `outputPrefix.stdout` and `outputPrefix.stderr`, or nowhere.
    /// With `newSession` the child leads a session of its own (setsid), so
    /// no signal meant for the test runner's process group or terminal
    /// reaches it; only a signal sent to its own pid does.
    public init(
        _ executable: String, _ arguments: [String], outputPrefix: String?,
        environment: [String: String]? = nil, currentDirectory: String? = nil, newSession: Bool = false
    ) throws {
        self.executable = executable
        self.arguments = arguments
        stdoutPath = outputPrefix.map { $0 + ".stdout" } ?? "/dev/null"
        stderrPath = outputPrefix.map { $0 + ".stderr" } ?? "/dev/null"
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // glibc's POSIX_SPAWN_SETSID (0x80) is defined only under _GNU_SOURCE,
        // which Swift's Glibc module does not see.
        let setSession: Int32 = newSession ? 0x80 : 0
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | setSession))
        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&files, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&files, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let variables = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }
        // posix_spawn cannot change directory here (glibc's addchdir_np is
        // not visible to Swift), so env does it and then execs the program,
        // which keeps the process identifier.
        let program = currentDirectory == nil ? executable : "/usr/bin/env"
        let prefix = currentDirectory.map { ["/usr/bin/env", "-C", $0] } ?? []
        let argv = (prefix + [executable] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, program, &files, &attributes, argv, envp)
        guard result == 0 else {
            throw ChildProcessError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
        // One thread per child waits for it; waitpid is the only way to learn
        // how it ended, and it blocks.
        let ending = ending
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            ending.record(status & 0x7f == 0 ? .exit((status >> 8) & 0xff) : .signal(status & 0x7f))
        }
    }

    public var termination: Termination? { ending.termination }

    /// Sends `signalNumber` to the child unless it has already ended.
    public func send(_ signalNumber: Int32) {
        guard termination == nil else { return }
        kill(processIdentifier, signalNumber)
    }

    /// Waits for the child to end, at most `timeout`. Nil when it is still running.
    public func waitForTermination(timeout: Duration) async -> Termination? {
        await ending.wait(timeout: timeout)
    }

    /// Blocks the calling thread until the child ends, at most `seconds`; for cleanup in `defer`.
    public func waitBlocking(seconds: Double) -> Termination? { ending.waitBlocking(seconds: seconds) }

    public var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The command line, for messages.
    public var commandLine: String { ([executable] + arguments).map(shellQuoted).joined(separator: " ") }

    /// The last lines of standard error, for failure messages.
    public func standardErrorTail(lines: Int = 30) -> String {
        standardError.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    deinit {
        // A test that failed half-way must not leave its children behind.
        if ending.termination == nil { kill(processIdentifier, SIGKILL) }
    }
}

/// How a process ended, once it has, and the tasks waiting to learn it.
private final class Ending: Sendable {
    private struct State {
        var termination: Termination?
        var waiters: [UInt64: CheckedContinuation<Termination?, Never>] = [:]
        /// Waiters whose time ran out before they were registered.
        var expired: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    private let ended = DispatchSemaphore(value: 0)

    var termination: Termination? { state.withLock { $0.termination } }

    func record(_ termination: Termination) {
        let waiters = state.withLock { state in
            state.termination = termination
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: termination) }
        ended.signal()
    }

    func waitBlocking(seconds: Double) -> Termination? {
        if let termination { return termination }
        guard ended.wait(timeout: .now() + seconds) == .success else { return nil }
        ended.signal()  // for any other blocking waiter
        return termination
    }

    func wait(timeout: Duration) async -> Termination? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer = Task {
            // Cancelled means the wait is over already: nothing to expire.
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self.expire(id)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ended = state.withLock { state -> Termination?? in
                if let termination = state.termination { return .some(termination) }
                if state.expired.remove(id) != nil { return .some(nil) }
                state.waiters[id] = continuation
                return .none
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }

    private func expire(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Termination?, Never>? in
            guard let waiter = state.waiters.removeValue(forKey: id) else {
                if state.termination == nil { state.expired.insert(id) }
                return nil
            }
            return waiter
        }
        waiter?.resume(returning: nil)
    }
}

public func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
    return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A child that could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
