import Glibc

/// An exclusive `flock` on `<root>/.buse-registry.lock`, held while the
/// server runs.
///
/// Start-up removes crash leftovers (temp files of interrupted writes),
/// which is only safe when no other process is writing under the root: a
/// second server started on the same directory would delete the first one's
/// writes in progress. The lock makes that second start fail instead. The
/// kernel drops it when the process exits, however it exits.
final class RootLock: Sendable {
    static let fileName = ".buse-registry.lock"
    private let descriptor: Int32

    enum Failure: Error, CustomStringConvertible {
        case held(path: String)
        case system(call: String, path: String, errno: Int32)

        var description: String {
            switch self {
            case .held(let path): "another buse registry is serving this root (\(path) is locked)"
            case .system(let call, let path, let code): "\(call) \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    init(root: String) throws(Failure) {
        let path = root + "/" + Self.fileName
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .system(call: "open", path: path, errno: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            throw code == EWOULDBLOCK ? .held(path: path) : .system(call: "flock", path: path, errno: code)
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
