/// The answer to a `Range` request header for a blob of known size
/// (RFC 9110 section 14).
///
/// Only one range is served. A header this parser does not understand (not
/// `bytes=`, several ranges, junk) is ignored and the whole blob is sent with
/// 200: RFC 9110 allows a server to ignore `Range`, and a client that sends an
/// odd header still gets correct bytes, which beats a 416 it cannot act on.
/// Only a well-formed single range that starts past the end is unsatisfiable.
public enum ByteRange: Sendable, Equatable {
    /// Serve everything with 200.
    case whole
    /// Serve `length` bytes from `offset` with 206 and `contentRange`.
    case partial(offset: UInt64, length: UInt64)
    /// Answer 416 with `Content-Range: bytes */<size>`.
    case unsatisfiable

    public init(header: String?, size: UInt64) {
        guard let header, let spec = Self.singleRange(header) else {
            self = .whole
            return
        }
        switch spec {
        case (let first?, let last):
            guard first < size else {
                self = .unsatisfiable
                return
            }
            let end = min(last ?? (size - 1), size - 1)
            self = .partial(offset: first, length: end - first + 1)
        case (nil, let suffix?):
            // `bytes=-0` asks for nothing, which no representation can satisfy.
            guard suffix > 0, size > 0 else {
                self = .unsatisfiable
                return
            }
            let length = min(suffix, size)
            self = .partial(offset: size - length, length: length)
        case (nil, nil):
            self = .whole
        }
    }

    /// The `Content-Range` value for this answer.
    public func contentRange(size: UInt64) -> String? {
        switch self {
        case .whole: nil
        case .partial(let offset, let length): "bytes \(offset)-\(offset + length - 1)/\(size)"
        case .unsatisfiable: "bytes */\(size)"
        }
    }

    /// `bytes=a-b`, `bytes=a-` or `bytes=-n` as (first, last) or (nil, suffix);
    /// nil for anything else, including `a-b` with `b < a`.
    private static func singleRange(_ header: String) -> (UInt64?, UInt64?)? {
        let trimmed = header.trimmingASCIISpaces()
        guard trimmed.lowercased().hasPrefix("bytes=") else { return nil }
        let spec = trimmed.dropFirst(6).trimmingASCIISpaces()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let firstText = spec[..<dash].trimmingASCIISpaces()
        let lastText = spec[spec.index(after: dash)...].trimmingASCIISpaces()
        if firstText.isEmpty {
            guard let suffix = UInt64(decimal: lastText) else { return nil }
            return (nil, suffix)
        }
        guard let first = UInt64(decimal: firstText) else { return nil }
        if lastText.isEmpty { return (first, nil) }
        guard let last = UInt64(decimal: lastText), last >= first else { return nil }
        return (first, last)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's OWS).
    func trimmingASCIISpaces() -> Substring {
        let text = Substring(self)
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = text.firstIndex(where: { !isSpace($0) }), let end = text.lastIndex(where: { !isSpace($0) }) else {
            return text[text.endIndex...]
        }
        return text[start...end]
    }
}

extension UInt64 {
    /// Plain decimal digits only: no sign, no spaces, no overflow.
    init?(decimal text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.allSatisfy(ASCII.isDigit), let value = UInt64(text) else { return nil }
        self = value
    }
}
