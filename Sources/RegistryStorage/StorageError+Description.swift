import Glibc

/// A sentence for logs and command-line errors: an operating failure names
/// the call, the path and the system's words for the errno, which is what a
/// person needs to fix it (a full disk, a permission, a missing directory).
extension StorageError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .system(let operation, let path, let code):
            let place = path.isEmpty ? "" : " " + path
            return "\(operation)\(place): \(String(cString: strerror(code)))"
        case .corruptLink(let path): return "damaged link file \(path) (it names another digest)"
        default:
            guard let error = registryError else { return String(reflecting: self) }
            let detail = error.detail.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return error.code.rawValue + ": " + error.message + (detail.isEmpty ? "" : " (\(detail))")
        }
    }
}
