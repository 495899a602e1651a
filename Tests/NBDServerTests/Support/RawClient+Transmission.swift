import NBDProtocol

/// One transmission reply: a simple reply, or one structured chunk.
struct TransmissionReply: Equatable, CustomStringConvertible {
    var cookie: UInt64
    /// The error value (0 on success); for an error chunk, the one it carries.
    var error: UInt32
    /// The chunk type, or nil for a simple reply.
    var chunkType: UInt16?
    var flags: UInt16 = 0
    /// A simple READ reply's data, or a chunk's whole payload.
    var payload: [UInt8]

    var errorCode: ErrorCode? { ErrorCode(rawValue: error) }
    var isStructured: Bool { chunkType != nil }

    /// A successful READ's data, from either form of reply.
    var data: [UInt8] {
        chunkType == ReplyChunkType.offsetData.rawValue ? Array(payload.dropFirst(8)) : payload
    }

    var description: String {
        let form = chunkType.map { "chunk type 0x\(String($0, radix: 16))" } ?? "simple reply"
        return "\(form) for cookie \(cookie): error \(errorCode.map(String.init(describing:)) ?? String(error)), \(payload.count) bytes"
    }
}

extension RawClient {
    /// Sends a request header and, for a WRITE, its payload (which may be
    /// deliberately shorter or longer than the header says).
    func sendRequest(_ request: Request, payload: [UInt8] = [], structured: Bool = true) throws(ClientError) {
        if request.type == Command.read.rawValue && !structured {
            pendingReadLengths[request.cookie] = Int(request.length)
        }
        try send(request.encoded() + payload)
    }

    func readReply() throws(ClientError) -> TransmissionReply {
        let magic = UInt32(try receive(4).bigEndianValue)
        switch magic {
        case Magic.simpleReply:
            let rest = try receive(12)
            let error = UInt32(rest[0..<4].bigEndianValue)
            let cookie = rest[4..<12].bigEndianValue
            let length = pendingReadLengths.removeValue(forKey: cookie)
            let data = (error == 0 && length != nil) ? try receive(length!) : []
            return TransmissionReply(cookie: cookie, error: error, chunkType: nil, payload: data)
        case Magic.structuredReply:
            let rest = try receive(16)
            let type = UInt16(rest[2..<4].bigEndianValue)
            let length = Int(rest[12..<16].bigEndianValue)
            guard length <= Int(ProtocolLimits.payloadMaximum) + 8 else { throw .violation("a \(length)-byte chunk") }
            let payload = try receive(length)
            var error: UInt32 = 0
            if type & 0x8000 != 0 {
                guard payload.count >= 6, Int(payload[4..<6].bigEndianValue) <= payload.count - 6 else {
                    throw .violation("malformed error chunk \(payload)")
                }
                error = UInt32(payload[0..<4].bigEndianValue)
                guard error != 0 else { throw .violation("error chunk with error 0") }
            }
            return TransmissionReply(
                cookie: rest[4..<12].bigEndianValue, error: error, chunkType: type,
                flags: UInt16(rest[0..<2].bigEndianValue), payload: payload)
        default:
            throw .violation("bad reply magic 0x\(String(magic, radix: 16))")
        }
    }

    /// Sends one request and reads one reply, which must be for it.
    func roundTrip(_ request: Request, payload: [UInt8] = [], structured: Bool = true) throws(ClientError) -> TransmissionReply {
        try sendRequest(request, payload: payload, structured: structured)
        let reply = try readReply()
        guard reply.cookie == request.cookie else { throw .violation("reply for cookie \(reply.cookie), expected \(request.cookie)") }
        return reply
    }

    /// Writes and expects success.
    func write(_ data: [UInt8], at offset: UInt64, cookie: UInt64) throws(ClientError) {
        let reply = try roundTrip(Request(.write, cookie: cookie, offset: offset, length: UInt32(data.count)), payload: data)
        guard reply.error == 0 else { throw .violation("WRITE at \(offset) failed: \(reply)") }
    }

    /// Reads and expects success.
    func read(at offset: UInt64, length: Int, cookie: UInt64, structured: Bool = true) throws(ClientError) -> [UInt8] {
        let reply = try roundTrip(Request(.read, cookie: cookie, offset: offset, length: UInt32(length)), structured: structured)
        guard reply.error == 0, reply.data.count == length else { throw .violation("READ at \(offset) failed: \(reply)") }
        return reply.data
    }

    /// NBD_CMD_DISC, then the server must close without replying.
    func disconnect() throws(ClientError) {
        try send(Request(.disconnect, cookie: 0).encoded())
        try expectClosedWithoutReply()
    }
}
