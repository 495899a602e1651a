public import ArgumentParser
import BlockDevices
import DeviceCatalog
import Glibc
import Journal
import Logging
public import Replication
import Sockets
import TLS

/// The options that make `serve` and `connect` replicate their device to a peer.
struct ReplicationFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Replicate synchronously to the `buse replica` listening at HOST:PORT: a write is acknowledged only once the peer has it too.",
            valueName: "host:port"))
    var replicateTo: String?

    @Option(
        help: ArgumentHelp(
            "The node's state folder (generation ids, transaction log, control socket). Without --replicate-to the node serves alone and logs what a future peer misses. (default with --replicate-to: /var/lib/buse/<export>)",
            valueName: "dir"))
    var state: String?

    @Option(
        help: ArgumentHelp(
            "While the peer is away: continue (log what it misses), suspend (hold writes) or fail (EIO).", valueName: "policy"))
    var degraded: DegradedPolicy = .continue

    @Option(help: ArgumentHelp("Cap resync bandwidth, e.g. 50M (bytes per second). (default: none)", valueName: "rate"))
    var resyncRate: String?

    @Option(
        help: ArgumentHelp(
            "Authenticate and encrypt the link to the replica with TLS 1.3 and this PSK file (`psktool -u buse -p FILE`); the replica must have the same file in its --peer-psk.",
            valueName: "file"))
    var peerPsk: String?

    @Option(
        help: ArgumentHelp(
            "Authenticate both nodes with certificates and encrypt the link with TLS 1.3: DIR holds ca-cert.pem (the pair's CA) and this node's client-cert.pem and client-key.pem (the replica's --peer-certificates holds server-cert.pem and server-key.pem signed by the same CA). See README.md, \"Peer authentication\".",
            valueName: "dir"))
    var peerCertificates: String?

    @Option(help: ArgumentHelp("Seconds an unanswered peer is given before the primary carries on without it.", valueName: "seconds"))
    var peerTimeout: Int = 10

    @Option(
        help: ArgumentHelp(
            "Log records kept for a peer that is away before the oldest fold into a bitmap of 1 MiB regions (checked every min(256, count/8) writes; the log's LMDB map takes 96 bytes per record).",
            valueName: "count"))
    var logRecords: Int = Journal.Limits().recordLimit

    @Option(help: ReplicationFlags.activeRegionsHelp)
    var activeRegions: Int = Journal.Limits().activeRegionLimit

    /// Shared with `buse replica`, whose own activity log has the same bound.
    static let activeRegionsHelp = ArgumentHelp(
        "1 MiB regions kept marked active after both copies have flushed them, the most recently written first. A crash resyncs these, plus whatever was written since the last flush; a write to a region not active first waits for a sync of the log on each node. Fewer mean less to resync after a crash, and more syncs for a client that flushes often.",
        valueName: "count")

    func validate() throws {
        guard logRecords >= 16 else { throw ValidationError("--log-records must be at least 16") }
        guard activeRegions >= 0 else { throw ValidationError("--active-regions must be 0 or more") }
        if replicateTo == nil && state != nil && degraded != .continue {
            throw ValidationError(
                "--degraded \(degraded.rawValue) needs a peer: with --state and no --replicate-to every write would \(degraded == .suspend ? "wait" : "fail")"
            )
        }
        if let replicateTo { _ = try ReplicationFlags.address(replicateTo) }
        if let resyncRate, ByteSize.parse(resyncRate) == nil {
            throw ValidationError("--resync-rate \(resyncRate) is not a size such as 50M")
        }
        guard peerTimeout >= 1 else { throw ValidationError("--peer-timeout must be at least 1 second") }
        if peerPsk != nil && replicateTo == nil { throw ValidationError("--peer-psk needs --replicate-to") }
        if peerCertificates != nil && replicateTo == nil { throw ValidationError("--peer-certificates needs --replicate-to") }
        _ = try Self.peerCredentials(psk: peerPsk, certificates: peerCertificates)
    }

    /// What authenticates the link, if anything (validated).
    var peerCredentials: PeerCredentials? { try? Self.peerCredentials(psk: peerPsk, certificates: peerCertificates) }

    /// `--peer-psk FILE` or `--peer-certificates DIR` (never both), as
    /// primaries and replicas take them.
    static func peerCredentials(psk: String?, certificates: String?) throws(ValidationError) -> PeerCredentials? {
        switch (psk, certificates) {
        case (nil, nil): nil
        case let (psk?, nil): .psk(file: psk)
        case let (nil, directory?): .certificates(directory: directory)
        case (.some, .some): throw ValidationError("give --peer-psk or --peer-certificates, not both: the link is authenticated one way")
        }
    }

    static func address(_ text: String) throws -> ListenAddress {
        do {
            let address = try ListenAddress(parsing: text)
            guard case let .tcp(_, port) = address, port != 0 else { throw ValidationError("\(text): give HOST:PORT") }
            return address
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("--replicate-to \(text): \(error)")
        }
    }

    /// Wraps `device` as the primary of a replicated volume, starts its
    /// connector (when a peer is named) and control socket. `stop` ends both
    /// (the device itself is closed by whoever serves it).
    ///
    /// With `--state` and no `--replicate-to` (a promoted node whose old
    /// primary is gone for now), the node serves alone, but through its log:
    /// every write is recorded as one a future peer misses, so the peer that
    /// joins later is resynced from the log, never skipped.
    func open(_ device: any BlockDevice, export: String, logger: Logger) async throws -> ReplicatedVolume? {
        guard replicateTo != nil || state != nil else { return nil }
        let folderPath = state ?? "/var/lib/buse/\(export)"
        var options = ReplicationOptions()
        options.policy = degraded
        options.resyncRate = resyncRate.flatMap { ByteSize.parse($0) }
        options.peerTimeout = .seconds(peerTimeout)
        options.nodeName = ReplicationFlags.nodeName
        // Checked before the state folder is opened: a bad key file stops
        // start-up. (The connector reads it again for each connection.)
        var credentials: TLSCredentials?
        if let peer = peerCredentials {
            do { credentials = try peer.load(client: true) } catch {
                throw CommandLineError("\(peer.flag): \(error)")
            }
        }
        do {
            let folder = try NodeFolder(path: folderPath)
            var settings = JournalSettings()
            settings.limits.recordLimit = logRecords
            settings.limits.activeRegionLimit = activeRegions
            let replicated = try await ReplicatedDevice(
                lower: device, folder: folder, options: options, journalSettings: settings, logger: logger)
            let control = try ControlServer(
                path: folder.controlSocketPath, status: { replicated.status },
                verify: { repair, progress throws(ReplicationError) in try await replicated.verify(repair: repair, progress: progress) })
            guard let replicateTo else {
                logger.notice("serving with no peer (state in \(folderPath)): the log records what a future peer misses")
                return ReplicatedVolume(device: replicated, connector: nil, control: control)
            }
            let connector = PeerConnector(
                device: replicated, address: try Self.address(replicateTo), peerCredentials: peerCredentials, logger: logger)
            let task = Task { await connector.run() }
            let authentication = credentials.map { "authenticated by \($0.summary)" } ?? "plain, no --peer-psk or --peer-certificates"
            logger.notice(
                "replicating to \(replicateTo) (state in \(folderPath), while away: \(degraded.rawValue), link: \(authentication))")
            return ReplicatedVolume(device: replicated, connector: task, control: control)
        } catch let error as ReplicationError {
            throw CommandLineError(error.description)
        } catch let error as ListenError {
            throw CommandLineError("control socket: \(error)")
        }
    }

    static var nodeName: String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(name) pid \(getpid())"
    }
}

/// A primary's replication machinery while it runs.
struct ReplicatedVolume {
    let device: ReplicatedDevice
    let connector: Task<Void, Never>?
    let control: ControlServer

    func stop() {
        connector?.cancel()
        control.close()
    }
}

extension DegradedPolicy: ExpressibleByArgument {}
