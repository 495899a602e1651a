import Hummingbird
import Logging
import Synchronization

/// One line per request at `.info`: method, path, status, body bytes and
/// duration until the last byte was handed to the connection.
///
/// Only the path is logged, never the query or headers: a query may carry
/// tokens in front of some proxies, and `Authorization` is a credential.
struct AccessLog {
    let logger: Logger
    let request: Request
    let started: ContinuousClock.Instant

    /// The response with its body wrapped so the line is written when the
    /// body has been sent (or has failed), which is when a blob GET ends.
    func logged(_ response: Response) -> Response {
        let (logger, method, path, status, started) = (logger, request.method, request.uri.path, response.status.code, started)
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
            logger.info("\(method) \(path) \(status) \(sent.count) bytes in \(Self.milliseconds(since: started))")
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
    var count: Int { value.load(ordering: .relaxed) }
    func add(_ length: Int) { value.add(length, ordering: .relaxed) }
}

/// Forwards to the connection's writer and counts what passes.
private struct CountingWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let sent: SentBytes

    mutating func write(_ buffer: ByteBuffer) async throws {
        sent.add(buffer.readableBytes)
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
