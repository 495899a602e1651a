import ArgumentParser
import BlockDevices
import DeviceCatalog
import DeviceLayers
import Glibc
import Logging
import NBDServer
import Replication
import ServiceMetrics
import Sockets

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve block devices to NBD clients over TCP and Unix sockets.",
        discussion: """
            Each --export names a device; clients choose it by name (the empty name \
            reaches the default export). The server runs until SIGINT or SIGTERM, \
            then stops accepting, finishes requests in flight, flushes every device \
            and exits 0.

            Examples:
              buse serve --export vol1=file:/var/lib/buse/vol1.img?size=10G
              buse serve --export a=memory:1G --export b=file:/dev/sdb?readonly \\
                         --listen 0.0.0.0:10809 --unix /run/buse.sock
              buse serve --config /etc/buse/serve.yaml
              buse serve --export vol1=memory:1G --listen 0.0.0.0:10809 \\
                         --tls require --tls-psk /etc/buse/keys.psk
              buse serve --export vol=file:/srv/vol.img?size=10G \\
                         --replicate-to peer.example:10810 --state /var/lib/buse/vol
              buse serve --export vol1=memory:1G --metrics 127.0.0.1:9810
              buse serve --sealed-layers /var/lib/buse/snapshotter --listen 0.0.0.0:10809

            Reach an export with:
              nbdinfo nbd://127.0.0.1:10809/vol1
              qemu-img info nbd://127.0.0.1:10809/vol1
              nbd-client -N vol1 127.0.0.1 10809 /dev/nbd0
            and, with --tls:
              nbdinfo 'nbds://alice@127.0.0.1:10809/vol1?tls-psk-file=keys.psk'
            """)

    @Option(
        name: .customLong("export"),
        help: ArgumentHelp(
            "An export as NAME=DEVICE-URI (device URIs: README.md, \"Device URIs\"). Repeat for several.", valueName: "name=uri"))
    var exports: [String] = []

    @Option(help: ArgumentHelp("A YAML file with listen addresses and exports (format: README.md, \"Serving\").", valueName: "file"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Export every layer `buse layers seal` sealed under this snapshotter root, read-only, named by its chain ID.",
            valueName: "root"))
    var sealedLayers: [String] = []

    @Option(
        name: .customLong("listen"),
        help: ArgumentHelp(
            "A TCP address to listen on, HOST:PORT or [IPV6]:PORT. Repeat for several. (default: 127.0.0.1:10809)", valueName: "address"))
    var listen: [String] = []

    @Option(name: .customLong("unix"), help: ArgumentHelp("A Unix socket path to listen on. Repeat for several.", valueName: "path"))
    var unixSockets: [String] = []

    @Flag(help: "Serve every export read-only.")
    var readOnly = false

    @Option(
        help: ArgumentHelp(
            "The export served to clients that ask for the empty name. (default: the only export, if there is one)", valueName: "name"))
    var defaultExport: String?

    @Option(help: ArgumentHelp("Requests one connection may have in flight before buse stops reading from it.", valueName: "count"))
    var maxRequests: Int = ConnectionLimits().requestsInFlight

    @Option(
        help: ArgumentHelp(
            "Seconds a client may take to negotiate before it is closed (transmission has no such limit).", valueName: "seconds"))
    var handshakeTimeout: Int = 30

    @Option(help: ArgumentHelp("Connections served at once; more are closed as soon as they arrive.", valueName: "count"))
    var maxConnections: Int = AdmissionLimits().connectionsMaximum

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @OptionGroup(title: "TLS")
    var tls: TLSFlags

    @OptionGroup(title: "Replication")
    var replication: ReplicationFlags

    @OptionGroup(title: "Metrics")
    var metrics: MetricsFlags

    func validate() throws {
        if (replication.replicateTo != nil || replication.state != nil) && (exports.count != 1 || config != nil) {
            throw ValidationError("--replicate-to and --state belong to one export: give exactly one --export and no --config")
        }
        if exports.isEmpty && config == nil && sealedLayers.isEmpty {
            throw ValidationError("give at least one --export NAME=DEVICE-URI, --config FILE or --sealed-layers ROOT")
        }
        for export in exports where !export.contains("=") {
            throw ValidationError("--export \"\(export)\" must be NAME=DEVICE-URI, e.g. vol1=file:/var/lib/buse/vol1.img?size=10G")
        }
        guard handshakeTimeout >= 1 else { throw ValidationError("--handshake-timeout must be at least 1 second") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard (1...4096).contains(maxRequests) else {
            throw ValidationError("--max-requests must be from 1 to 4096, not \(maxRequests)")
        }
    }

    func run() async throws {
        let signals = SignalWaiter()
        let file = try config.map(ServeConfiguration.load(path:))
        var level = logLevel
        if let text = file?.logLevel {
            guard let parsed = Logger.Level(rawValue: text) else { throw CommandLineError("log-level \(text) is not a level") }
            level = parsed
        }
        let logger = Logging.bootstrap(level: level)
        // Before any export opens: a bad certificate or key file stops start-up here.
        let tlsSettings = try tls.settings(file)
        if let credentials = tlsSettings.credentials {
            logger.notice("TLS \(tlsSettings.policy.rawValue): \(credentials.summary)")
        }
        var replicated: ReplicatedVolume?
        let (table, counters) = try await openExports(file) { device, name in
            replicated = try await replication.open(device, export: name, logger: logger)
            return replicated?.device ?? device
        }
        let addresses = try listenAddresses(file)
        TLSFlags.warnIfExposed(tlsSettings, addresses, logger)
        var limits = ConnectionLimits()
        limits.requestsInFlight = maxRequests
        let admission = AdmissionLimits(handshakeTimeout: .seconds(handshakeTimeout), connectionsMaximum: maxConnections)
        let server = Server(exports: table, limits: limits, admission: admission, tls: tlsSettings, logger: logger)
        let ports: [UInt16]
        do {
            ports = try server.start(listening: addresses)
        } catch {
            throw CommandLineError(error.description)
        }
        let endpoint = try metrics.start(logger: logger).map { registry, endpoint in
            NBDExportMetrics.register(table.ordered, server: server, in: registry)
            RadosMetrics.register(table.ordered, in: registry)
            if let volume = replicated?.device { ReplicationMetrics.register(status: { volume.status }, in: registry) }
            return endpoint
        }
        printHints(table, addresses, ports, tls: tls.clientHint(file, policy: tlsSettings.policy))
        let signalNumber = await signals.wait()
        logger.notice("received signal \(signalNumber), shutting down gracefully")
        endpoint?.close()
        replicated?.stop()
        await server.shutdown()
        for (name, counted) in counters { logger.notice("export \(name) served \(counted.summary)") }
    }

    private func openExports(
        _ file: ServeConfiguration?, wrap: (any BlockDevice, String) async throws -> any BlockDevice
    ) async throws -> (ExportTable, [(String, CountingDevice)]) {
        var entries: [(name: String, uri: String, description: String, readOnly: Bool)] = []
        for entry in file?.exports ?? [] {
            entries.append((entry.name, entry.device, entry.description ?? "", entry.readOnly ?? false))
        }
        for flag in exports {
            let equals = flag.firstIndex(of: "=")!
            entries.append((String(flag[..<equals]), String(flag[flag.index(after: equals)...]), "", false))
        }
        for root in sealedLayers { entries += try Self.sealedLayerExports(root: root) }
        var opened: [Export] = []
        var counters: [(String, CountingDevice)] = []
        for entry in entries {
            guard !entry.name.isEmpty, entry.name.utf8.count <= 4096 else {
                throw CommandLineError("export name \"\(entry.name)\" must be 1 to 4096 bytes")
            }
            guard !opened.contains(where: { $0.name == entry.name }) else {
                throw CommandLineError("export \"\(entry.name)\" is given twice")
            }
            do {
                let uri = try DeviceURI(parsing: entry.uri)
                let device = CountingDevice(try await wrap(try DeviceCatalog.open(uri, readOnly: readOnly || entry.readOnly), entry.name))
                counters.append((entry.name, device))
                let description = entry.description.isEmpty ? uri.text : entry.description
                opened.append(Export(name: entry.name, device: device, description: description))
            } catch {
                throw CommandLineError("export \(entry.name): \(error)")
            }
        }
        let defaultName = defaultExport ?? file?.defaultExport
        if let defaultName, !opened.contains(where: { $0.name == defaultName }) {
            throw CommandLineError("--default-export \(defaultName) is not one of the exports")
        }
        return (ExportTable(opened, defaultName: defaultName), counters)
    }

    private func listenAddresses(_ file: ServeConfiguration?) throws -> [ListenAddress] {
        var addresses: [ListenAddress] = []
        do {
            for text in (file?.listen ?? []) + listen { addresses.append(try ListenAddress(parsing: text)) }
        } catch {
            throw CommandLineError("--listen: \(error)")
        }
        for path in (file?.unix ?? []) + unixSockets { addresses.append(.unix(path: path)) }
        if addresses.isEmpty { addresses = [.tcp(host: "127.0.0.1", port: ListenAddress.defaultPort)] }
        return addresses
    }

    private func printHints(_ table: ExportTable, _ addresses: [ListenAddress], _ ports: [UInt16], tls: TLSClientHint?) {
        var lines: [String] = []
        let user = tls?.user.map { "\($0)@" } ?? ""
        for (address, port) in zip(addresses, ports) {
            for export in table.ordered {
                let size = ByteSize.format(export.description.size)
                // The plain URI, the TLS one when TLS is on, and the commands
                // that reach the plain one.
                let plain: String
                let secure: String?
                let commands: [String]
                switch address {
                case let .tcp(host, _):
                    let shown = host.contains(":") ? "[\(host)]" : host
                    plain = "nbd://\(shown):\(port)/\(export.name)"
                    secure = tls.map { "nbds://\(user)\(shown):\(port)/\(export.name)?\($0.query)" }
                    commands = [
                        "  nbdinfo \(plain)", "  qemu-img info \(plain)",
                        "  nbd-client -N \(export.name) \(host) \(port) /dev/nbd0   (after modprobe nbd)",
                    ]
                case let .unix(path):
                    plain = "nbd+unix:///\(export.name)?socket=\(path)"
                    secure = tls.map { "nbds+unix://\(user)/\(export.name)?socket=\(path)&\($0.query)" }
                    commands = ["  nbdinfo '\(plain)'"]
                }
                if let secure {
                    lines += ["export \(export.name) (\(size)) at \(secure)", "  nbdinfo '\(secure)'"]
                    guard tls?.plainToo == true else { continue }
                } else {
                    lines.append("export \(export.name) (\(size)) at \(plain)")
                }
                lines += commands
            }
        }
        print(lines.joined(separator: "\n"))
        fflush(nil)  // all streams: the hints must show before the first request is logged
    }
}
