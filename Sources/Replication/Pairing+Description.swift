/// One-line renderings of the pairing's states, events and actions, with
/// links named by their peer: for trap messages, logs and the transcript tests.
extension Pairing.State: CustomStringConvertible {
    var description: String {
        switch self {
        case .disconnected: "disconnected"
        case let .connecting(link): "connecting(\(link.channel.peerName))"
        case let .resyncing(link): "resyncing(\(link.channel.peerName))"
        case let .inSync(link): "inSync(\(link.channel.peerName))"
        case let .refused(peer, reason): "refused(\(peer): \(reason))"
        }
    }
}

extension Pairing.Event: CustomStringConvertible {
    var description: String {
        switch self {
        case let .connect(link): "connect(\(link.channel.peerName))"
        case let .refuse(link, reason): "refuse(\(link.channel.peerName): \(reason))"
        case let .resyncBegin(link): "resyncBegin(\(link.channel.peerName))"
        case let .resyncDone(link): "resyncDone(\(link.channel.peerName))"
        case let .linkEnded(link, reason): "linkEnded(\(link.channel.peerName): \(reason))"
        case .writeBegin: "writeBegin"
        case .unreplicatedWriteEnd: "unreplicatedWriteEnd"
        case .hold: "hold"
        case .drain: "drain"
        case .close: "close"
        }
    }
}

extension Pairing.Action: CustomStringConvertible {
    var description: String {
        switch self {
        case .none: "none"
        case .startPairing: "startPairing"
        case let .rejectLink(reason): "rejectLink(\(reason))"
        case .drainUnreplicated: "drainUnreplicated"
        case let .replicate(link): "replicate(\(link.channel.peerName))"
        case .writeWithoutPeer: "writeWithoutPeer"
        case .wait: "wait"
        case let .proceed(going): "proceed(\(going))"
        case .resumeHeld: "resumeHeld"
        case .resumeDrainWaiters: "resumeDrainWaiters"
        case .endSession: "endSession"
        case let .shutDown(link): "shutDown(\(link.map(\.channel.peerName) ?? "no link"))"
        }
    }
}
