import Glibc

/// Where a server accepts connections.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A TCP address; `host` is a name or a numeric IPv4/IPv6 address.
    case tcp(host: String, port: UInt16)
    /// A Unix domain socket path (created on start, removed on shutdown).
    case unix(path: String)

    /// The IANA port for NBD.
    public static let defaultPort: UInt16 = 10809

    /// Parses `HOST:PORT`, `[IPV6]:PORT`, `HOST` (port 10809) or `:PORT` (loopback).
    public init(parsing text: String) throws(ListenError) {
        var host = text
        var port = Self.defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .badAddress(text, "missing ]") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = UInt16(rest.dropFirst()) else {
                    throw .badAddress(text, "expected [ADDRESS]:PORT")
                }
                port = value
            }
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            host = String(text[..<colon])
            guard let value = UInt16(text[text.index(after: colon)...]) else {
                throw .badAddress(text, "the port must be a number from 0 to 65535")
            }
            port = value
        }
        self = .tcp(host: host.isEmpty ? "127.0.0.1" : host, port: port)
    }

    public var description: String {
        switch self {
        case let .tcp(host, port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path): "unix:\(path)"
        }
    }
}

public enum ListenError: Error, CustomStringConvertible {
    case badAddress(String, String)
    case system(String, ListenAddress, Int32)

    public var description: String {
        switch self {
        case let .badAddress(text, why): "invalid listen address \"\(text)\": \(why)"
        case let .system(call, address, code):
            "cannot listen on \(address): \(call): \(String(cString: strerror(code)))"
                + (code == EADDRINUSE ? " (is another server already using it?)" : "")
        }
    }
}
