/// The one request the metrics endpoint understands, `GET /metrics`, read
/// from the bytes of a request head with no I/O, so every refusal is a
/// table test. Anything else gets the status that says why.
public enum ScrapeRequest {
    /// The most a request head (request line and headers) may take: a
    /// scraper sends a few hundred bytes.
    public static let maximumHeadBytes = 8192

    public enum Outcome: Equatable, Sendable {
        /// Serve the metrics; `includeBody` is false for HEAD.
        case metrics(includeBody: Bool)
        case refused(status: Int, reason: String)
    }

    /// Where the head ends (just past the blank line), if it has.
    public static func headEnd(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count
        where bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
            return index + 1
        }
        return nil
    }

    /// Decides on a complete head (ending in an empty line).
    public static func decide(head: [UInt8]) -> Outcome {
        guard let lineEnd = head.firstIndex(of: 13), lineEnd + 1 < head.count, head[lineEnd + 1] == 10 else {
            return .refused(status: 400, reason: "no request line")
        }
        let line = head[..<lineEnd]
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            return .refused(status: 400, reason: "the request line is not printable ASCII")
        }
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3 else { return .refused(status: 400, reason: "the request line is not METHOD TARGET VERSION") }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return .refused(status: 505, reason: "version \(version.prefix(16)) is not HTTP/1.0 or HTTP/1.1")
        }
        guard method == "GET" || method == "HEAD" else {
            return .refused(status: 405, reason: "method \(method.prefix(16)) (only GET and HEAD)")
        }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard path == "/metrics" else { return .refused(status: 404, reason: "no such path (the metrics are at /metrics)") }
        return .metrics(includeBody: method == "GET")
    }

    /// The reason phrase of each status this endpoint sends.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Error"
        }
    }
}
