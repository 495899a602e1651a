public import Logging
public import Sockets
import TLS
import Threading

/// Keeps the primary connected to its peer: connects, runs the session,
/// and after it ends waits (doubling from half a second to 30 s, back to the
/// start after a session that reached sync; 10 s after a refusal that needs
/// an operator) and connects again, until
/// cancelled. Unanswered writes are not lost meanwhile: the log has them and
/// the next session's resync sends the regions again.
public struct PeerConnector: Sendable {
    public let device: ReplicatedDevice
    public let address: ListenAddress
    public let logger: Logger
    /// `--peer-psk` or `--peer-certificates`: the replica must prove who it
    /// is before anything is sent. Read again for each connection, so a
    /// rotated key takes effect at the next one without restarting the primary.
    public let peerCredentials: PeerCredentials?

    public init(device: ReplicatedDevice, address: ListenAddress, peerCredentials: PeerCredentials? = nil, logger: Logger) {
        self.device = device
        self.address = address
        self.peerCredentials = peerCredentials
        self.logger = logger
    }

    public func run() async {
        let watchdog = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                device.checkPeerTimeout()
            }
        }
        defer { watchdog.cancel() }
        var delay = Duration.milliseconds(500)
        var lastFailure = ""
        while !Task.isCancelled && !device.isClosed {
            let channel: TCPChannel
            do {
                let credentials = try peerCredentials.map { peer throws(ReplicationError) in
                    do { return (try peer.load(client: true), peer) } catch {
                        throw .refused("\(peer.flag): \(error)")
                    }
                }
                // Connecting and authenticating block for up to 5 + 20 s
                // when the replica is silent (a partition, a hung host):
                // on a thread of their own, never on the cooperative pool
                // that every write's completion needs.
                let (address, userTimeout, logger) = (address, device.peerTimeout, logger)
                channel = try await SystemThread.run { () throws(ReplicationError) in
                    try PeerAddress.connect(
                        address, timeout: .seconds(5), userTimeout: userTimeout, credentials: credentials, logger: logger)
                }
            } catch {
                if case let .refused(why) = error { device.noteConnectRefusal((address.description, why)) }
                if error.description != lastFailure {
                    // An unauthenticated replica is an error, not a network hiccup.
                    if case .refused = error {
                        logger.error("replication: \(error); retrying with backoff")
                    } else {
                        logger.warning("replication: \(error); retrying with backoff")
                    }
                    lastFailure = error.description
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
                continue
            }
            lastFailure = ""
            device.noteConnectRefusal(nil)
            let syncsBefore = device.timesInSync
            let reason = await device.run(channel)
            if device.timesInSync > syncsBefore { delay = .milliseconds(500) }
            // A refusal needs an operator (split brain, another volume),
            // except "already replicating", which ends when the replica
            // notices that the previous connection is gone.
            if case let .refused(why) = reason { delay = why.contains("already replicates") ? .seconds(2) : .seconds(10) }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(30))
        }
    }
}
