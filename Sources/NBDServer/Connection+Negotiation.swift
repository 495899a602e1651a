import NBDProtocol
import Sockets

extension Connection {
    /// Drives ``Negotiation`` over the socket. Returns the session to serve,
    /// or nil when the client aborted or broke the protocol (already logged).
    func negotiate() throws(SocketError) -> NegotiatedSession? {
        var negotiation = Negotiation(directory: exports)
        try socket.writeAll(Negotiation.greeting)
        let flagBytes = try socket.readExactly(count: 4)
        let flags = flagBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if let action = negotiation.receiveClientFlags(flags) {
            return try perform(action)
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
                if case .send = action {
                    try _ = perform(action)
                    continue
                }
                return try perform(action)
            }
        }
    }

    private func perform(_ action: Negotiation.Action) throws(SocketError) -> NegotiatedSession? {
        switch action {
        case let .send(bytes):
            try socket.writeAll(bytes)
            return nil
        case let .sendAndClose(bytes, reason):
            logger.info("closing connection during negotiation: \(reason)")
            if !bytes.isEmpty { try socket.writeAll(bytes) }
            return nil
        case let .startTransmission(session, reply):
            try socket.writeAll(reply)
            return session
        }
    }
}
