import Glibc

/// Why a layer diff could not be written: an operating failure (with what
/// was being done and the errno's text) or an upper directory this differ
/// cannot read alone (overlayfs' metacopy or redirect_dir were on).
public struct LayerDiffError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    /// An errno as an error, saying what was being done.
    init(_ what: String, errno code: Int32) {
        message = "\(what): \(String(cString: strerror(code)))"
    }

    public var description: String { message }
}
