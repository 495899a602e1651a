public import GRPCCore
public import Prometheus

/// `buse snapshotter serve --metrics`: calls by method and gRPC status,
/// their latency, and snapshots made and removed by kind, counted by a
/// server interceptor in front of the snapshot service.
///
/// Snapshots by kind are counted from the calls that make them (Prepare:
/// active, View: view, Commit: committed) and Remove, so the store itself
/// (LMDB, on its own thread) is never read by a scrape.
public struct SnapshotterMetrics: ServerInterceptor {
    let prometheus: PrometheusCollectorRegistry
    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
        .milliseconds(500), .seconds(2), .seconds(10),
    ]

    public init(_ prometheus: PrometheusCollectorRegistry) {
        self.prometheus = prometheus
        // Made at start, so a dashboard sees zeros before the first call.
        for kind in ["active", "view", "committed"] { _ = snapshots("created", kind) }
        _ = snapshots("removed", "any")
        for method in ["Prepare", "Commit", "Stat", "Mounts"] { _ = duration(method) }
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.method
        let started = ContinuousClock.now
        let code: String
        let response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
            switch response.accepted {
            case .success: code = "ok"
            case .failure(let error): code = Self.codeLabel(error.code)
            }
        } catch let error as RPCError {
            record(method, code: Self.codeLabel(error.code), since: started)
            throw error
        } catch {
            record(method, code: "unknown", since: started)
            throw error
        }
        record(method, code: code, since: started)
        return response
    }

    private func record(_ method: String, code: String, since started: ContinuousClock.Instant) {
        duration(method).record(started.duration(to: .now))
        prometheus.makeCounter(
            descriptor: .named("buse_snapshotter_calls_total", help: "Snapshot service calls answered, by method and gRPC status."),
            labels: [("method", method), ("code", code)]
        ).increment()
        guard code == "ok" else { return }
        switch method {
        case "Prepare": snapshots("created", "active").increment()
        case "View": snapshots("created", "view").increment()
        case "Commit": snapshots("created", "committed").increment()
        case "Remove": snapshots("removed", "any").increment()
        default: break
        }
    }

    private func duration(_ method: String) -> DurationHistogram {
        prometheus.makeDurationHistogram(
            descriptor: .named("buse_snapshotter_call_duration_seconds", help: "Time to answer a snapshot service call, by method."),
            labels: [("method", method)], buckets: Self.buckets)
    }

    private func snapshots(_ event: String, _ kind: String) -> Counter {
        prometheus.makeCounter(
            descriptor: .named(
                "buse_snapshotter_snapshots_\(event)_total",
                help: event == "created" ? "Snapshots made, by kind." : "Snapshots removed."),
            labels: [("kind", kind)])
    }

    /// gRPC status names as `grpc_code` labels are usually written.
    static func codeLabel(_ code: RPCError.Code) -> String {
        String(describing: code).lowercased()
    }
}

extension MetricNameDescriptor {
    /// A whole metric name (its unit and `_total` included) with its help text.
    static func named(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
