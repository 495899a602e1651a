import ArgumentParser
import DeviceCatalog
import Foundation
import Glibc
import Journal
import Logging
import Replication
import ServiceMetrics
import Sockets
import TLS
import Threading

struct Replica: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive a primary's synchronous replication into a local device.",
        discussion: """
            The secondary of a replicated volume. It listens for the primary \
            (`buse serve ... --replicate-to HOST:PORT`), applies every write it is sent \
            and acknowledges it once its device has it. A new replica gets a full copy; \
            one that was away gets only what it missed. One primary at a time: a second \
            is refused, as is a primary of another volume or size, or one that would \
            need a split brain resolved (see `buse discard-my-data`).

            To fail over: stop this process, run `buse promote --state DIR`, then serve \
            the device as a primary.

            Example:
              buse replica --listen 0.0.0.0:10810 --device file:/srv/vol.img?size=10G \\
                           --state /var/lib/buse/vol
            """)

    @Option(help: ArgumentHelp("The TCP address to accept the primary on, HOST:PORT.", valueName: "address"))
    var listen: String

    @Option(
        help: ArgumentHelp(
            "The local device that holds the copy, a device URI (README.md, \"Device URIs\"), e.g. file:/srv/vol.img?size=10G.",
            valueName: "uri"))
    var device: String

    @Option(help: ArgumentHelp("The node's state folder (generation ids, log, control socket).", valueName: "dir"))
    var state: String

    @Option(
        help: ArgumentHelp(
            "Authenticate and encrypt the link with TLS 1.3 and this PSK file (`psktool -u buse -p FILE`); the primary must have the same file in its --peer-psk. Without it, a primary that starts TLS is refused.",
            valueName: "file"))
    var peerPsk: String?

    @Option(
        help: ArgumentHelp(
            "Authenticate both nodes with certificates and encrypt the link with TLS 1.3: DIR holds ca-cert.pem (the pair's CA) and this node's server-cert.pem and server-key.pem; the primary's --peer-certificates holds a client-cert.pem the same CA signed. Without it (or --peer-psk), a primary that starts TLS is refused.",
            valueName: "dir"))
    var peerCertificates: String?

    @Option(help: ReplicationFlags.activeRegionsHelp)
    var activeRegions: Int = Journal.Limits().activeRegionLimit

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @OptionGroup(title: "Metrics")
    var metrics: MetricsFlags

    func validate() throws {
        guard activeRegions >= 0 else { throw ValidationError("--active-regions must be 0 or more") }
    }

    func run() async throws {
        let signals = SignalWaiter()
        let logger = Logging.bootstrap(level: logLevel)
        let address: ListenAddress
        do { address = try ListenAddress(parsing: listen) } catch { throw CommandLineError("--listen: \(error)") }
        let node: ReplicaNode
        let control: ControlServer
        let listener: Listener
        let peer = try ReplicationFlags.peerCredentials(psk: peerPsk, certificates: peerCertificates)
        var credentials: TLSCredentials?
        if let peer {
            do { credentials = try peer.load(client: false) } catch {
                throw CommandLineError("\(peer.flag): \(error)")
            }
        }
        do {
            let opened = try DeviceCatalog.open(try DeviceURI(parsing: device))
            let folder = try NodeFolder(path: state)
            var settings = JournalSettings()
            settings.limits.activeRegionLimit = activeRegions
            node = try await ReplicaNode(
                device: opened, folder: folder, journalSettings: settings, nodeName: ReplicationFlags.nodeName, logger: logger)
            control = try ControlServer(path: folder.controlSocketPath, status: { node.status }, verify: nil)
            listener = try Listener(address)
        } catch let error as ReplicationError {
            throw CommandLineError(error.description)
        } catch {
            throw CommandLineError("\(error)")
        }
        let port = listener.boundPort
        Thread.detachNewThread { [credentials, peer] in
            listener.acceptLoop { socket in
                PeerAddress.configure(socket.descriptor, userTimeout: .seconds(30))
                let peerName = Self.peerName(socket.descriptor)
                guard let credentials, let peer else {
                    let channel = TCPChannel(socket: socket, peerName: peerName)
                    Task { _ = await node.serve(channel) }
                    return
                }
                // The handshake blocks for up to PeerHandshake.timeout: on a
                // thread of its own, so a silent connection never holds up
                // the accept loop (and the real primary behind it).
                SystemThread.start {
                    guard
                        let secured = PeerHandshake.server(
                            socket, credentials: credentials, peer: peer, peerName: peerName, logger: logger)
                    else { return }
                    let channel = TCPChannel(socket: secured, peerName: peerName)
                    Task { _ = await node.serve(channel) }
                }
            }
        }
        if let credentials {
            logger.notice("replication: the primary must authenticate with \(credentials.summary)")
        } else if case let .tcp(host, _) = address, !TLSFlags.isLoopback(host) {
            logger.warning(
                "replication: listening on \(address) without --peer-psk or --peer-certificates: anyone who can reach it can pose as the primary"
            )
        }
        let endpoint = try metrics.start(logger: logger).map { registry, endpoint in
            ReplicationMetrics.register(status: { node.status }, in: registry)
            RadosMetrics.register(replicaDevice: node.device, in: registry)
            return endpoint
        }
        let volume = node.volume
        print("replica of volume \(String(volume.volumeID, radix: 16)) listening on \(address) (port \(port)), state in \(state)")
        fflush(nil)
        let signal = await signals.wait()
        logger.notice("received signal \(signal), stopping")
        listener.close()
        control.close()
        endpoint?.close()
        await node.close()
    }

    static func peerName(_ descriptor: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        guard named == 0 else { return "unknown peer" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let status = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard status == 0 else { return "unknown peer" }
        let text = { (chars: [CChar]) in String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return "\(text(host)):\(text(service))"
    }
}
