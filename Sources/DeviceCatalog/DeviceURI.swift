/// A device named as operators write it: `SCHEME:PATH[?KEY=VALUE&FLAG...]`.
/// Parsing only; the schemes and options are ``DeviceCatalog``'s, documented
/// for users in README.md, "Device URIs".
public struct DeviceURI: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var path: String
    public var options: [String: String]
    public let text: String

    public init(parsing text: String) throws(DeviceURIError) {
        guard let colon = text.firstIndex(of: ":") else { throw .missingScheme(text) }
        scheme = String(text[..<colon]).lowercased()
        var rest = String(text[text.index(after: colon)...])
        options = [:]
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                if let equals = pair.firstIndex(of: "=") {
                    options[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
                } else {
                    options[String(pair)] = ""
                }
            }
            rest = String(rest[..<question])
        }
        // Accept file:///path as well as file:/path.
        if rest.hasPrefix("//") { rest.removeFirst(2) }
        path = rest
        self.text = text
        guard !path.isEmpty else { throw .missingPath(text) }
    }

    public var description: String { text }

    /// A size option, parsed, or nil when absent.
    public func size(_ key: String) throws(DeviceURIError) -> UInt64? {
        guard let value = options[key] else { return nil }
        guard let bytes = ByteSize.parse(value) else { throw .badOption(text, key, "expected a size such as 4096, 512M or 10G") }
        return bytes
    }

    /// A duration option such as `2ms`, `500us` or `1s`, or nil when absent.
    public func duration(_ key: String) throws(DeviceURIError) -> Duration? {
        guard let value = options[key] else { return nil }
        let units: [(String, Double)] = [("us", 1e-6), ("ms", 1e-3), ("s", 1)]
        for (suffix, scale) in units where value.hasSuffix(suffix) {
            if let number = Double(value.dropLast(suffix.count)), number >= 0, number <= 3600 / scale {
                return .nanoseconds(Int64(number * scale * 1e9))
            }
        }
        throw .badOption(text, key, "expected a duration such as 500us, 2ms or 1s")
    }

    /// A boolean option: present (or `=1`, `=true`, `=yes`) means true.
    public func flag(_ key: String) -> Bool {
        guard let value = options[key] else { return false }
        return ["", "1", "true", "yes", "on"].contains(value.lowercased())
    }
}

public enum DeviceURIError: Error, CustomStringConvertible {
    case missingScheme(String)
    case missingPath(String)
    case unknownScheme(String, known: [String])
    case badOption(String, String, String)
    case unknownOption(String, String, allowed: [String])
    case cannotOpen(String, String)

    public var description: String {
        switch self {
        case let .missingScheme(text):
            "device \"\(text)\" has no scheme; write it as file:/path/to/image?size=10G or memory:1G"
        case let .missingPath(text):
            "device \"\(text)\" names no path or size after its scheme"
        case let .unknownScheme(text, known):
            "device \"\(text)\" has an unknown scheme; known schemes: \(known.joined(separator: ", "))"
        case let .badOption(text, key, why):
            "device \"\(text)\": option \(key): \(why)"
        case let .unknownOption(text, key, allowed):
            "device \"\(text)\": unknown option \"\(key)\"; allowed: \(allowed.joined(separator: ", "))"
        case let .cannotOpen(text, why):
            "device \"\(text)\": \(why)"
        }
    }
}
