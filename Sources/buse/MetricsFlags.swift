import ArgumentParser
import Logging
import ServiceMetrics
import Sockets

/// `--metrics HOST:PORT`, shared by serve, connect, replica, registry serve
/// and snapshotter serve: where the Prometheus endpoint listens.
struct MetricsFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics (README.md, \"Metrics\"). (default: none)",
            valueName: "host:port"))
    var metrics: String?

    func validate() throws {
        if let metrics {
            guard metrics.contains(":") else { throw ValidationError("--metrics \(metrics): give HOST:PORT, e.g. 127.0.0.1:9810") }
            do {
                _ = try ListenAddress(parsing: metrics)
            } catch {
                throw ValidationError("--metrics \(metrics): \(error)")
            }
        }
    }

    /// Starts the endpoint when asked for; the caller registers its
    /// figures in the returned registry and keeps the endpoint alive.
    func start(logger: Logger) throws -> (MetricsRegistry, MetricsEndpoint)? {
        guard let metrics else { return nil }
        let registry = MetricsRegistry()
        do {
            let address = try ListenAddress(parsing: metrics)
            let endpoint = try MetricsEndpoint(address, registry: registry, logger: logger)
            if case let .tcp(host, _) = address {
                let bound = ListenAddress.tcp(host: host, port: endpoint.port)
                logger.notice("metrics at http://\(bound)/metrics")
                if !TLSFlags.isLoopback(host) {
                    logger.warning("metrics: listening on \(bound) without authentication: anyone who can reach it reads the figures")
                }
            }
            return (registry, endpoint)
        } catch {
            throw CommandLineError("--metrics: \(error)")
        }
    }
}
