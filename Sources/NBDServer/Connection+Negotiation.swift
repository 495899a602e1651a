import Logging
import NBDProtocol
import Sockets
import TLS

extension Connection {
    /// Drives ``Negotiation`` over the socket. Returns the session to serve
    /// and the socket to serve it on (the TLS one, if the client started
    /// TLS), or nil when the client aborted, broke the protocol or failed
    /// the TLS handshake (already logged).
    func negotiate() throws(SocketError) -> (NegotiatedSession, Socket)? {
        var negotiation = Negotiation(directory: exports, tls: tls?.policy ?? .off)
        var socket = self.socket
        try socket.writeAll(Negotiation.greeting)
        let flagBytes = try socket.readExactly(count: 4)
        let flags = flagBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if let action = negotiation.receiveClientFlags(flags) {
            return try perform(action, on: socket).map { ($0, socket) }
        }
        while true {
            let header = try socket.readExactly(count: 16)
            switch negotiation.admitOption(header: header) {
            case let .close(reason):
                logger.warning("closing connection: \(reason)")
                return nil
            case let .skipThenReply(length, reply):
                logger.warning("refused an option payload of \(length) bytes without reading it whole")
                try socket.skip(UInt64(length))
                try socket.writeAll(reply)
            case let .read(option, length):
                let payload = try socket.readExactly(count: Int(length))
                let action = negotiation.receiveOption(option, payload: payload)
                switch action {
                case .send, .refuse:
                    try _ = perform(action, on: socket)
                case let .startTLS(reply):
                    try socket.writeAll(reply)
                    guard let upgraded = startTLS(on: socket) else { return nil }
                    socket = upgraded
                    negotiation.tlsEstablished()
                case .sendAndClose, .startTransmission:
                    return try perform(action, on: socket).map { ($0, socket) }
                }
            }
        }
    }

    /// The TLS handshake after STARTTLS was acknowledged: the socket that
    /// reads and writes through TLS, or nil (logged) if it failed; then
    /// only this connection closes.
    private func startTLS(on socket: Socket) -> Socket? {
        guard let credentials = tls?.credentials else {
            preconditionFailure("negotiation acknowledged STARTTLS on a connection without TLS credentials")
        }
        do {
            let (upgraded, session) = try credentials.handshake(on: socket)
            var metadata: Logger.Metadata = ["tls": "\(session.summary)"]
            if let user = session.pskUsername { metadata["psk-user"] = "\(user)" }
            logger.info("TLS established", metadata: metadata)
            return upgraded
        } catch {
            logger.warning("closing connection: \(error)")
            return nil
        }
    }

    private func perform(_ action: Negotiation.Action, on socket: Socket) throws(SocketError) -> NegotiatedSession? {
        switch action {
        case let .send(bytes):
            try socket.writeAll(bytes)
            return nil
        case let .refuse(bytes, reason):
            logger.notice("refused an option: \(reason)")
            try socket.writeAll(bytes)
            return nil
        case let .sendAndClose(bytes, reason):
            logger.info("closing connection during negotiation: \(reason)")
            if !bytes.isEmpty { try socket.writeAll(bytes) }
            return nil
        case let .startTransmission(session, reply):
            try socket.writeAll(reply)
            return session
        case .startTLS:
            preconditionFailure("STARTTLS is handled by negotiate(), which runs the handshake")
        }
    }
}
