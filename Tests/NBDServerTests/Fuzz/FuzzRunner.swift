import NBDProtocol

struct FuzzFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Plays one ``ConnectionScript`` against the server and checks every answer
/// against what the script expects.
struct FuzzRunner {
    let socketPath: String

    func run(_ script: ConnectionScript) throws(FuzzFailure) {
        let client: RawClient
        do {
            client = try RawClient(path: socketPath)
            try client.readGreeting()
        } catch {
            throw FuzzFailure("connecting: \(error)")
        }
        defer { client.close() }
        for step in script.handshake {
            do {
                guard try perform(step, client) else { return }
            } catch {
                throw FuzzFailure("at \"\(step.label)\": \(error)")
            }
        }
        if let transmission = script.transmission {
            do {
                try run(transmission, client)
            } catch let failure as FuzzFailure {
                throw failure
            } catch {
                throw FuzzFailure("in transmission: \(error)")
            }
        }
    }

    /// False when the connection has ended, as the step expected.
    private func perform(_ step: HandshakeStep, _ client: RawClient) throws -> Bool {
        for chunk in step.send {
            switch chunk {
            case let .bytes(bytes): try client.send(bytes)
            case let .filler(count, byte):
                var left = count
                let piece = [UInt8](repeating: byte, count: 65536)
                while left > 0 {
                    try client.send(Array(piece.prefix(left)))
                    left -= min(left, piece.count)
                }
            }
        }
        switch step.expect {
        case .nothing:
            return true
        case let .replies(option, final):
            let replies = try client.readOptionReplies()
            guard replies.allSatisfy({ $0.option == option }) else { throw FuzzFailure("replies name another option: \(replies)") }
            guard replies.last?.type == final.rawValue else {
                throw FuzzFailure(
                    "expected final reply 0x\(String(final.rawValue, radix: 16)), got \(replies.map { "0x" + String($0.type, radix: 16) })")
            }
            return true
        case let .ackThenClose(option):
            let reply = try client.readOptionReply()
            guard reply.option == option, reply.type == OptionReply.ack.rawValue else { throw FuzzFailure("expected ACK, got \(reply)") }
            try client.expectClosedWithoutReply()
            return false
        case .close:
            try client.expectClosedWithoutReply()
            return false
        case .closeAfterWeStopWriting:
            client.shutdownWriting()
            try client.expectClosedWithoutReply()
            return false
        case .anythingThenClose:
            client.shutdownWriting()
            _ = try client.receiveUntilClosed()
            return false
        case .abandon:
            client.close()
            return false
        case .go:
            let replies = try client.readOptionReplies()
            guard replies.last?.type == OptionReply.ack.rawValue,
                replies.dropLast().allSatisfy({ $0.type == OptionReply.info.rawValue })
            else { throw FuzzFailure("GO failed: \(replies)") }
            return true
        case let .exportName(zeroes):
            let reply = try client.receive(10 + (zeroes ? 124 : 0))
            guard reply.dropFirst(10).allSatisfy({ $0 == 0 }) else { throw FuzzFailure("EXPORT_NAME padding not zero") }
            return true
        }
    }

    private func run(_ script: TransmissionScript, _ client: RawClient) throws {
        var bytes: [UInt8] = []
        var pending: [UInt64: FuzzRequest] = [:]
        for request in script.requests {
            bytes += request.request.encoded() + request.payload
            pending[request.request.cookie] = request
            if case let .simpleData(length) = request.expected.form {
                client.pendingReadLengths[request.request.cookie] = length
            }
        }
        var stopWriting = false
        switch script.ending {
        case let .disconnect(junk): bytes += Request(.disconnect, cookie: 0).encoded() + junk
        case let .fatal(_, fatal, stop):
            bytes += fatal
            stopWriting = stop
        case .abandon: break
        }
        try client.send(bytes)
        if case .abandon = script.ending {
            client.close()
            return
        }
        if stopWriting { client.shutdownWriting() }
        while !pending.isEmpty {
            guard let reply = try Self.nextReply(client) else {
                throw FuzzFailure("closed before answering \(pending.values.map(\.label))")
            }
            guard let request = pending.removeValue(forKey: reply.cookie) else {
                throw FuzzFailure("unexpected reply \(reply)")
            }
            if let problem = Self.problem(with: reply, for: request) {
                throw FuzzFailure("\(request.label): \(problem)")
            }
        }
        try client.expectClosedWithoutReply()
    }

    /// The next reply, or nil when the server has closed the connection.
    private static func nextReply(_ client: RawClient) throws(ClientError) -> TransmissionReply? {
        do {
            return try client.readReply()
        } catch {
            if error == .closed { return nil }
            throw error
        }
    }

    /// What is wrong with `reply` as the answer to `request`, if anything.
    static func problem(with reply: TransmissionReply, for request: FuzzRequest) -> String? {
        let expected = request.expected
        guard reply.error == (expected.error?.rawValue ?? 0) else { return "got \(reply)" }
        let chunk = reply.chunkType.flatMap(ReplyChunkType.init(rawValue:))
        if reply.isStructured && reply.flags != replyFlagDone { return "chunk without DONE: \(reply)" }
        switch expected.form {
        case .simple:
            return !reply.isStructured && reply.payload.isEmpty ? nil : "expected a simple reply, got \(reply)"
        case let .simpleData(length):
            return !reply.isStructured && reply.payload.count == length ? nil : "expected \(length) bytes of data, got \(reply)"
        case let .offsetData(length):
            guard chunk == .offsetData, reply.payload.count == length + 8 else { return "expected OFFSET_DATA of \(length), got \(reply)" }
            return reply.payload.prefix(8).bigEndianValue == request.request.offset ? nil : "OFFSET_DATA at the wrong offset"
        case .errorChunk:
            return chunk == .error ? nil : "expected an error chunk, got \(reply)"
        case .blockStatus:
            let payload = reply.payload
            guard chunk == .blockStatus, payload.count >= 12, (payload.count - 4) % 8 == 0,
                payload.prefix(4).bigEndianValue == UInt64(MetaContext.baseAllocationID)
            else { return "malformed BLOCK_STATUS \(reply)" }
            let lengths = stride(from: 4, to: payload.count, by: 8).map { payload[$0..<($0 + 4)].bigEndianValue }
            guard lengths.allSatisfy({ $0 > 0 }), lengths.reduce(0, +) <= UInt64(request.request.length) else {
                return "BLOCK_STATUS descriptors \(lengths) do not fit \(request.request.length) bytes"
            }
            return nil
        }
    }
}
