import Foundation

/// The programs the interop tests drive. A missing one fails the test with
/// the command that installs it; it never skips.
enum Tool {
    static let searchPath = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"]

    /// The absolute path of `name`, or a thrown error naming the package to install.
    static func path(_ name: String) throws -> String {
        for directory in searchPath {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw InteropError(
            "\(name) is not installed (looked in \(searchPath.joined(separator: ", "))); "
                + "run `scripts/install-packages.sh test` to install the test tools")
    }

    /// The first `name` on this process's PATH, for tools installed where the
    /// install script's own shell finds them (`python3` with oras from PyPI
    /// may be a pyenv or venv interpreter, not /usr/bin/python3).
    static func pathFromEnvironment(_ name: String) throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in directories + searchPath {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw InteropError("\(name) is not on PATH; run `scripts/install-packages.sh test` to install the test tools")
    }

    /// An environment whose PATH finds the system Python first: nbdsh runs
    /// `python3 -m nbd`, and python3-libnbd exists only for /usr/bin/python3.
    static let systemEnvironment = ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin"]

    /// The buse binary under test: $BUSE_BINARY, else `.build/debug/buse`
    /// in the package that holds this file.
    static func buse() throws -> String {
        if let path = ProcessInfo.processInfo.environment["BUSE_BINARY"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw InteropError("BUSE_BINARY is \(path), which is not an executable file; build buse first")
            }
            return path
        }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let path = packageRoot.appendingPathComponent(".build/debug/buse").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw InteropError("no buse binary at \(path); run `swift build` or set BUSE_BINARY")
        }
        return path
    }
}
