import Hummingbird
import Logging
import Synchronization

/// One line per request at `.info`: method, path, status, body bytes,
/// duration until the last byte was handed to the connection, and the user
/// when the registry has logins.
///
/// Only the path is logged, never the query or headers: a query may carry
/// tokens in front of some proxies, and `Authorization` is a credential.
struct AccessLog {
    let logger: Logger
    let request: Request
    /// Who authenticated; nil without logins or when refused.
    let user: String?
    let started: ContinuousClock.Instant

    /// The response with its body wrapped so the line is written when the
    /// body has been sent (or has failed), which is when a blob GET ends.
    func logged(_ response: Response) -> Response {
        let (logger, method, status, started) = (logger, request.method, response.status.code, started)
        let path = user.map { "\(request.uri.path) (\($0))" } ?? request.uri.path
        let body = response.body
        let length = body.contentLength
        let wrapped = ResponseBody(contentLength: length) { writer in
            let sent = SentBytes()
            do {
                try await body.write(CountingWriter(base: writer, sent: sent))
            } catch {
                logger.info(
                    "\(method) \(path) \(status) aborted after \(sent.count) bytes in \(Self.milliseconds(since: started)): \(error)")
                throw error
            }
            let how = sent.bySendfile ? " by sendfile" : ""
            logger.info("\(method) \(path) \(status) \(sent.count) bytes\(how) in \(Self.milliseconds(since: started))")
        }
        // Built anew so a HEAD answer keeps the Content-Length it set.
        return Response(status: response.status, headers: response.headers, body: wrapped)
    }

    /// `12.3 ms`: to a tenth of a millisecond, which is what a reader compares.
    static func milliseconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = start.duration(to: .now).components
        let tenths = elapsed.seconds * 10_000 + elapsed.attoseconds / 100_000_000_000_000
        return "\(tenths / 10).\(tenths % 10) ms"
    }
}

/// Bytes of a body written so far, shared between the writer (which the
/// body consumes) and the log line written after it.
private final class SentBytes: Sendable {
    private let value = Atomic<Int>(0)
    private let outOfBand = Atomic<Bool>(false)
    var count: Int { value.load(ordering: .relaxed) }
    /// Whether the connection sent the body itself (`FileRegionBody`).
    var bySendfile: Bool { outOfBand.load(ordering: .relaxed) }
    func add(_ length: Int) { value.add(length, ordering: .relaxed) }
    func addSentByConnection(_ length: Int) {
        outOfBand.store(true, ordering: .relaxed)
        add(length)
    }
}

/// Forwards to the connection's writer and counts what passes, and what
/// the connection sent itself (a blob sent with `sendfile(2)`).
private struct CountingWriter: ResponseBodyWriter, OutOfBandBodyBytes {
    var base: any ResponseBodyWriter
    let sent: SentBytes

    func count(_ length: Int) {
        sent.addSentByConnection(length)
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        sent.add(buffer.readableBytes)
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
