import Foundation
import TestSupport

/// Debian's docker-registry 2.8.2 (distribution) on a root in the test's
/// directory, always with a config this test writes: loopback only, the
/// filesystem driver on `root`, deletes enabled. Its packaged config
/// listens on every interface with auth and is never used.
final class DockerRegistryProcess: Sendable {
    static let executable = "docker-registry"

    let root: String
    let process: ChildProcess
    let port: Int

    /// Starts the registry on a free loopback port and waits (bounded) until
    /// it logs that it listens. A port taken between choosing and binding
    /// (another test's server) is retried with a new one.
    init(in directory: TemporaryDirectory, root: String? = nil) async throws {
        let root = root ?? directory.file("docker-registry")
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var attempt = 0
        while true {
            attempt += 1
            let port = try Self.freePort()
            let config = directory.unique("docker-registry") + ".yml"
            // `log.level: info` for the line that says it listens; the
            // access log stays on for failure messages.
            try """
            version: 0.1
            log:
              level: info
              accesslog:
                disabled: false
            storage:
              filesystem:
                rootdirectory: \(root)
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let process = try ChildProcess(
                try Tool.path(Self.executable), ["serve", config], outputPrefix: directory.unique("docker-registry"),
                currentDirectory: directory.path)
            let listening = "listening on 127.0.0.1:\(port)"
            try await waitUntil("docker-registry listens on port \(port)") {
                process.termination != nil || process.standardError.contains(listening)
            }
            if process.termination == nil {
                self.process = process
                self.port = port
                return
            }
            guard attempt < 5, process.standardError.contains("address already in use") else {
                throw InteropError("docker-registry \(process.termination!) before listening:\n\(process.standardErrorTail())")
            }
        }
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Sends SIGTERM and waits (bounded) for the exit.
    func stop(timeout: Duration = .seconds(120)) async -> Termination? {
        process.send(SIGTERM)
        return await process.waitForTermination(timeout: timeout)
    }

    var log: String { process.standardErrorTail(lines: 60) }

    /// A loopback port nothing listens on right now: bind port 0, read what
    /// the kernel chose, close.
    static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw InteropError("socket: \(String(cString: strerror(errno)))") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(socket, generic, length) == 0 && getsockname(socket, generic, &length) == 0
            }
        }
        guard bound else { throw InteropError("bind to 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
