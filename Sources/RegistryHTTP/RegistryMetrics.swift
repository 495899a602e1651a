public import Hummingbird
public import Prometheus
import RegistryCore
import Synchronization

/// `buse registry serve --metrics`: requests by route and status, bytes in
/// and out, and upload sessions, as a Hummingbird middleware in front of
/// the responder. Routes are the OCI distribution endpoints (`blob_get`,
/// `upload_patch`, ...), never the path: repository names and digests
/// would make a series per image.
public struct RegistryMetrics: RouterMiddleware {
    public typealias Context = RegistryRequestContext

    let prometheus: PrometheusCollectorRegistry
    let duration: @Sendable (String) -> DurationHistogram

    public init(_ prometheus: PrometheusCollectorRegistry) {
        self.prometheus = prometheus
        let buckets: [Duration] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2),
            .seconds(10), .seconds(60),
        ]
        duration = { route in
            prometheus.makeDurationHistogram(
                descriptor: .named(
                    "buse_registry_request_duration_seconds",
                    help: "Time from a request's arrival to the last byte of its answer, by route."),
                labels: [("route", route)], buckets: buckets)
        }
        // Made at start, so a dashboard sees zeros before the first push.
        for route in ["blob_get", "upload_patch", "manifest_put", "manifest_get"] {
            _ = duration(route)
        }
        _ = bytes("in")
        _ = bytes("out")
        _ = uploads("started")
        _ = uploads("finished")
        _ = collections("done")
        _ = collections("failed")
        _ = freed()
        _ = deleted()
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        let route = Self.routeLabel(request)
        var request = request
        let received = bytes("in")
        request.body = RequestBody(asyncSequence: CountingBody(base: request.body, counter: received))
        let response = try await next(request, context)
        let status = response.status.code
        prometheus.makeCounter(
            descriptor: .named("buse_registry_requests_total", help: "Requests answered, by route and status."),
            labels: [("route", route), ("status", String(status))]
        ).increment()
        if route == "upload_start" && status == 202 { uploads("started").increment() }
        if route == "upload_finish" && status == 201 { uploads("finished").increment() }
        // Bytes out and the duration are counted as the body leaves.
        let (body, sent, histogram) = (response.body, bytes("out"), duration(route))
        // A blob sent with sendfile passes no bytes through the body: its
        // length is what the connection's FileRegionHandler sends.
        let byFileRegion = response.headers[FileRegionBody.header] != nil ? body.contentLength ?? 0 : 0
        let wrapped = ResponseBody(contentLength: body.contentLength) { writer in
            defer { histogram.record(started.duration(to: .now)) }
            try await body.write(CountingWriter(base: writer, counter: sent))
            if byFileRegion > 0 { sent.increment(by: Int64(byFileRegion)) }
        }
        return Response(status: response.status, headers: response.headers, body: wrapped)
    }

    /// A garbage collection of `--gc-interval` ended, freeing this much.
    func collected(bytesFreed: UInt64, blobsDeleted: Int) {
        collections("done").increment()
        freed().increment(by: Int64(bytesFreed))
        deleted().increment(by: Int64(blobsDeleted))
    }

    private func freed() -> Counter {
        prometheus.makeCounter(
            descriptor: .named("buse_registry_gc_freed_bytes_total", help: "Bytes of blobs garbage collection deleted."),
            labels: [])
    }

    private func deleted() -> Counter {
        prometheus.makeCounter(
            descriptor: .named("buse_registry_gc_deleted_blobs_total", help: "Blobs garbage collection deleted."), labels: [])
    }

    /// A garbage collection failed (logged).
    func collectionFailed() { collections("failed").increment() }

    private func collections(_ result: String) -> Counter {
        prometheus.makeCounter(
            descriptor: .named("buse_registry_gc_runs_total", help: "Garbage collections run by --gc-interval, by result."),
            labels: [("result", result)])
    }

    private func bytes(_ direction: String) -> Counter {
        prometheus.makeCounter(
            descriptor: .named(
                "buse_registry_\(direction == "in" ? "received" : "sent")_bytes_total",
                help: direction == "in" ? "Request body bytes received." : "Response body bytes sent."),
            labels: [])
    }

    private func uploads(_ what: String) -> Counter {
        prometheus.makeCounter(
            descriptor: .named(
                "buse_registry_upload_sessions_total",
                help: "Blob upload sessions started (POST answered 202) and finished (PUT answered 201)."),
            labels: [("event", what)])
    }

    /// The endpoint a request is for, or `invalid` when it names none.
    static func routeLabel(_ request: Request) -> String {
        let target = request.uri.query.map { request.uri.path + "?" + $0 } ?? request.uri.path
        guard let route = try? Route.parse(method: request.method.rawValue, target: target) else { return "invalid" }
        switch route {
        case .base: return "base"
        case .catalog: return "catalog"
        case .listTags: return "tags_list"
        case .getBlob: return "blob_get"
        case .headBlob: return "blob_head"
        case .deleteBlob: return "blob_delete"
        case .startUpload: return "upload_start"
        case .getUpload: return "upload_get"
        case .patchUpload: return "upload_patch"
        case .finishUpload: return "upload_finish"
        case .cancelUpload: return "upload_cancel"
        case .getManifest: return "manifest_get"
        case .headManifest: return "manifest_head"
        case .putManifest: return "manifest_put"
        case .deleteManifest: return "manifest_delete"
        case .listReferrers: return "referrers"
        }
    }
}

/// The responder behind the middleware (Hummingbird's own adapter is
/// internal to its router, which the registry does not use).
public struct MeteredResponder<Inner: HTTPResponder<RegistryRequestContext>>: HTTPResponder {
    public typealias Context = RegistryRequestContext
    let metrics: RegistryMetrics?
    let inner: Inner

    public func respond(to request: Request, context: Context) async throws -> Response {
        guard let metrics else { return try await inner.respond(to: request, context: context) }
        return try await metrics.handle(request, context: context) { try await inner.respond(to: $0, context: $1) }
    }
}

/// A request body that counts its bytes as the responder reads them.
private struct CountingBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let counter: Counter

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let counter: Counter

        mutating func next() async throws -> ByteBuffer? {
            let buffer = try await base.next()
            if let buffer { counter.increment(by: Int64(buffer.readableBytes)) }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), counter: counter) }
}

/// Forwards a response body to the connection, counting what passes.
private struct CountingWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let counter: Counter

    mutating func write(_ buffer: ByteBuffer) async throws {
        counter.increment(by: Int64(buffer.readableBytes))
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}

extension MetricNameDescriptor {
    /// A whole metric name (its unit and `_total` included) with its help text.
    static func named(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
