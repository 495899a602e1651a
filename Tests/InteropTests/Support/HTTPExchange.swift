import Foundation

/// One HTTP request as the registry tests send it, through curl: a real
/// client, unchanged paths (`--path-as-is`, so `..` and `//` reach the
/// server as written), no `Expect: 100-continue`, and blob bodies typed
/// `application/octet-stream` unless the request says otherwise (distribution
/// refuses a PATCH typed as a form, curl's default).
struct HTTPExchange: Sendable {
    var method: String
    /// Path and query, or an absolute URL (a `Location` a server sent).
    var target: String
    var headers: [(String, String)] = []
    var body: [UInt8]? = nil

    /// The answer: status, headers (names lowercased; a repeated header
    /// joined with ", ") and body.
    struct Answer: Sendable {
        let status: Int
        let headers: [String: String]
        let body: [UInt8]
        /// The connection closed before the whole body its headers announced.
        var truncated = false

        var text: String { String(decoding: body, as: UTF8.self) }
        /// The first error code of a registry error body, if any.
        var errorCode: String? {
            guard let range = text.range(of: #""code":""#) else { return nil }
            let rest = text[range.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }
    }

    /// Sends the request to `address` (`127.0.0.1:PORT`), or to the URL when
    /// `target` is absolute.
    func send(to address: String, in directory: TemporaryDirectory) async throws -> Answer {
        let files = directory.unique("http")
        var arguments = ["-sS", "--path-as-is", "-o", files + ".body", "-D", files + ".head", "-w", "%{http_code}", "-H", "Expect:"]
        arguments += method == "HEAD" ? ["--head"] : ["-X", method]
        var headers = headers
        if let body {
            try Data(body).write(to: URL(fileURLWithPath: files + ".request"))
            arguments += ["--data-binary", "@" + files + ".request"]
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                headers.append(("Content-Type", "application/octet-stream"))
            }
        }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        arguments.append(target.hasPrefix("http://") ? target : "http://\(address)\(target)")
        let result = try await run("curl", arguments, in: directory, timeout: .seconds(60))
        // curl's 18 is a body shorter than its Content-Length: the answer
        // still counts (docker-registry 2.8 sends the blob's length with its
        // short 416 text), and `truncated` says so.
        guard result.succeeded || result.exitStatus == 18, let status = Int(result.standardOutput) else {
            throw InteropError("curl failed:\n\(result)")
        }
        let head = (try? String(contentsOfFile: files + ".head", encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            fields[name] = fields[name].map { $0 + ", " + value } ?? value
        }
        // With `--head`, curl writes the headers where the body would go.
        let body = method == "HEAD" ? [] : (try? Data(contentsOf: URL(fileURLWithPath: files + ".body"))).map { [UInt8]($0) } ?? []
        return Answer(status: status, headers: fields, body: body, truncated: !result.succeeded)
    }
}
