/// The users of an htpasswd file (`htpasswd -B -c FILE user`, Apache's
/// tool, as docker-registry takes it): one `user:hash` per line.
///
/// Only bcrypt hashes are taken, as in distribution: MD5 (`$apr1$`), SHA-1
/// (`{SHA}`) and crypt entries are refused with their line, never silently
/// ignored, so an operator does not believe a user can log in who cannot.
/// Apache writes bcrypt as `$2y$`; it is the same algorithm as OpenBSD's
/// `$2b$`, which is how `hashes` holds it (the verifier knows only `$2a$`
/// and `$2b$`). Blank lines and lines starting with `#` are skipped.
public struct Htpasswd: Sendable, Equatable {
    /// Each user's bcrypt hash, `$2b$`/`$2a$` prefixed.
    public let hashes: [String: String]

    public init(parsing text: String) throws(HtpasswdError) {
        var hashes: [String: String] = [:]
        // `\r\n` is one Character: split on any newline, so CRLF files work.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            let number = index + 1
            guard let colon = line.firstIndex(of: ":") else { throw .malformedLine(number) }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            guard !user.isEmpty, !user.contains(where: { $0 == " " || $0 == "\t" }) else { throw .malformedLine(number) }
            guard let bcrypt = Self.bcrypt(hash) else { throw .notBcrypt(line: number, user: user) }
            guard hashes[user] == nil else { throw .duplicateUser(line: number, user: user) }
            hashes[user] = bcrypt
        }
        guard !hashes.isEmpty else { throw .noUsers }
        self.hashes = hashes
    }

    /// The hash with `$2y$` read as `$2b$`; nil when it is not bcrypt
    /// (`$2?$NN$` and 53 characters of salt and hash).
    static func bcrypt(_ hash: String) -> String? {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"), bytes[3] == UInt8(ascii: "$"),
            bytes[6] == UInt8(ascii: "$"), ASCII.isDigit(bytes[4]), ASCII.isDigit(bytes[5])
        else { return nil }
        switch bytes[2] {
        case UInt8(ascii: "a"), UInt8(ascii: "b"): return hash
        case UInt8(ascii: "y"): return "$2b" + hash.dropFirst(3)
        default: return nil
        }
    }
}

/// Why an htpasswd file cannot be used; lines are numbered from 1.
public enum HtpasswdError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedLine(Int)
    case notBcrypt(line: Int, user: String)
    case duplicateUser(line: Int, user: String)
    case noUsers

    public var description: String {
        switch self {
        case .malformedLine(let line): "line \(line) is not user:hash"
        case .notBcrypt(let line, let user):
            "line \(line): the password of \(user) is not a bcrypt hash; make it with htpasswd -B"
        case .duplicateUser(let line, let user): "line \(line): \(user) appears twice"
        case .noUsers: "it names no user"
        }
    }
}
