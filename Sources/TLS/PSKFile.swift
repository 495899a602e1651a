import Glibc

/// The PSK file format of `psktool` (and nbdkit's `--tls-psk`): one
/// `username:hexkey` line per client. GnuTLS reads it at each handshake and
/// says nothing about a bad line until a client needs it; this checks the
/// whole file at start-up so a typo stops the server instead.
public enum PSKFile {
    /// A file larger than this is not a PSK file.
    static let lengthMaximum = 1 << 20

    /// The usernames in `path`, or why it is not a usable PSK file.
    public static func usernames(in path: String) throws(TLSSetupError) -> [String] {
        try entries(in: path).map(\.username)
    }

    /// The `username:hexkey` lines of `path`, in order, or why it is not a usable PSK file.
    static func entries(in path: String) throws(TLSSetupError) -> [(username: String, key: String)] {
        let text = try read(path)
        var users: [(username: String, key: String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.hasSuffix("\r") ? line.dropLast() : line[...]
            if trimmed.isEmpty { continue }
            guard let colon = trimmed.firstIndex(of: ":"), colon != trimmed.startIndex else {
                throw TLSSetupError("\(path) line \(number + 1) is not username:hexkey")
            }
            let key = trimmed[trimmed.index(after: colon)...]
            guard !key.isEmpty, key.count % 2 == 0, key.allSatisfy(\.isHexDigit) else {
                throw TLSSetupError("\(path) line \(number + 1): the key must be an even number of hex digits")
            }
            users.append((String(trimmed[..<colon]), String(key)))
        }
        guard !users.isEmpty else { throw TLSSetupError("\(path) holds no username:hexkey line") }
        return users
    }

    private static func read(_ path: String) throws(TLSSetupError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TLSSetupError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TLSSetupError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            if bytes.count > lengthMaximum { throw TLSSetupError("\(path) is larger than a PSK file can be") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
