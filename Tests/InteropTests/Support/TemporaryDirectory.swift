import Foundation

/// A fresh directory for one test: its sockets, images and logs. Short
/// paths under /tmp, since a Unix socket path must fit in 108 bytes.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/buse-interop-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw InteropError("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// A new unique name in this directory, for output files of one run.
    func unique(_ stem: String) -> String { file("\(stem)-\(UUID().uuidString.prefix(8))") }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
