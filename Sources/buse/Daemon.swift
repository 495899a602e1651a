import Glibc

/// `--daemon` without fork: a process with threads cannot safely fork, so
/// the command runs itself again in a new session with a pipe on which the
/// child reports readiness (the device path) or its error. The parent prints
/// what it hears and exits; the child keeps serving.
enum Daemon {
    /// Runs a command that may detach: with `--daemon` (and no `readyFd`,
    /// so this is the parent) it starts itself again and waits for the
    /// child's word; otherwise it runs `body`, which reports readiness on
    /// the channel, and any error it throws is reported there too.
    static func run(
        daemon: Bool, readyFd: Int32?, logFile: String?, _ body: (ReadyChannel) async throws -> Void
    ) async throws {
        if daemon && readyFd == nil {
            try spawnAndWait(arguments: CommandLine.arguments, logFile: logFile)
            return
        }
        let ready = ReadyChannel(descriptor: readyFd)
        do {
            try await body(ready)
        } catch {
            ready.fail("\(error)")
            throw error
        }
    }

    static func spawnAndWait(arguments: [String], logFile: String?) throws {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw CommandLineError("pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        let log = logFile ?? "/run/buse/connect.log"
        mkdir("/run/buse", 0o755)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (0x80, glibc ≥ 2.26) needs _GNU_SOURCE, so it does not import.
        posix_spawnattr_setflags(&attributes, 0x80)

        let childArguments = arguments + ["--ready-fd", "\(writeEnd)"]
        var argv: [UnsafeMutablePointer<CChar>?] = childArguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, &argv, environ)
        close(writeEnd)
        guard status == 0 else { throw CommandLineError("cannot start the daemon: \(String(cString: strerror(status)))") }

        let message = readAll(readEnd)
        close(readEnd)
        if message.hasPrefix("ready ") {
            print(String(message.dropFirst("ready ".count)))
            return
        }
        let reason =
            message.hasPrefix("error ")
            ? String(message.dropFirst("error ".count)) : "the daemon exited before the device was ready; see \(log)"
        throw CommandLineError(reason)
    }

    private static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: "\n")
    }
}

/// The daemon child's end of the readiness pipe (absent in the foreground).
/// Says one thing, once: ready, or the error that stopped it.
final class ReadyChannel {
    private var descriptor: Int32?

    init(descriptor: Int32?) { self.descriptor = descriptor }

    func succeed(_ devicePath: String) { send("ready \(devicePath)") }
    func fail(_ reason: String) { send("error \(reason)") }

    private func send(_ text: String) {
        guard let descriptor else { return }
        _ = text.utf8CString.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count - 1) }
        close(descriptor)
        self.descriptor = nil
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var result = self
        while result.last == set { result.removeLast() }
        return result
    }
}
