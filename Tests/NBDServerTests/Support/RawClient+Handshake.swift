import NBDProtocol

/// One option reply as read from the wire.
struct OptionReplyFrame: Equatable {
    var option: UInt32
    var type: UInt32
    var data: [UInt8]

    var isError: Bool { type & 0x8000_0000 != 0 }
}

/// What GO or EXPORT_NAME told the client about the export.
struct ExportInfo: Equatable {
    var size: UInt64
    var flags: TransmissionFlags
}

extension RawClient {
    func readGreeting() throws(ClientError) {
        let greeting = try receive(18)
        guard greeting == Negotiation.greeting else { throw .violation("unexpected greeting \(greeting)") }
    }

    func sendClientFlags(_ flags: ClientFlags = [.fixedNewstyle, .noZeroes]) throws(ClientError) {
        try send(bigEndianBytes(flags.rawValue))
    }

    func sendOption(_ option: UInt32, _ payload: [UInt8] = []) throws(ClientError) {
        try send(bigEndianBytes(Magic.option) + bigEndianBytes(option) + bigEndianBytes(UInt32(payload.count)) + payload)
    }

    func readOptionReply() throws(ClientError) -> OptionReplyFrame {
        let header = try receive(20)
        guard header.prefix(8).elementsEqual(bigEndianBytes(Magic.optionReply)) else {
            throw .violation("bad option reply magic in \(header)")
        }
        let length = Int(header[16..<20].bigEndianValue)
        guard length <= 1 << 20 else { throw .violation("option reply of \(length) bytes") }
        return OptionReplyFrame(
            option: UInt32(header[8..<12].bigEndianValue), type: UInt32(header[12..<16].bigEndianValue),
            data: try receive(length))
    }

    /// Replies up to and including the final one (ACK or an error).
    func readOptionReplies() throws(ClientError) -> [OptionReplyFrame] {
        var replies: [OptionReplyFrame] = []
        while true {
            let reply = try readOptionReply()
            replies.append(reply)
            if reply.type == OptionReply.ack.rawValue || reply.isError { return replies }
        }
    }

    /// Greeting, flags, optionally STRUCTURED_REPLY and SET_META_CONTEXT
    /// base:allocation, then GO: the handshake qemu and nbdinfo perform.
    @discardableResult
    func handshake(export: String = "", structured: Bool = true, baseAllocation: Bool = true) throws(ClientError) -> ExportInfo {
        try readGreeting()
        try sendClientFlags()
        if structured {
            try sendOption(Option.structuredReply.rawValue)
            try expectFinalReply(.ack)
            if baseAllocation {
                try sendOption(Option.setMetaContext.rawValue, Self.metaContextPayload(export: export))
                let replies = try readOptionReplies()
                guard replies.map(\.type) == [OptionReply.metaContext.rawValue, OptionReply.ack.rawValue] else {
                    throw .violation("SET_META_CONTEXT replied \(replies.map(\.type))")
                }
            }
        }
        let name = Array(export.utf8)
        try sendOption(Option.go.rawValue, bigEndianBytes(UInt32(name.count)) + name + bigEndianBytes(UInt16(0)))
        var info: ExportInfo?
        for reply in try readOptionReplies() {
            if reply.isError { throw .violation("GO failed with reply type 0x\(String(reply.type, radix: 16))") }
            if reply.type == OptionReply.info.rawValue, reply.data.count == 12, reply.data[0...1] == [0, 0] {
                info = ExportInfo(
                    size: reply.data[2..<10].bigEndianValue,
                    flags: TransmissionFlags(rawValue: UInt16(reply.data[10..<12].bigEndianValue)))
            }
        }
        guard let info else { throw .violation("GO sent no NBD_INFO_EXPORT") }
        return info
    }

    func expectFinalReply(_ type: OptionReply) throws(ClientError) {
        let reply = try readOptionReply()
        guard reply.type == type.rawValue else {
            throw .violation("expected reply type 0x\(String(type.rawValue, radix: 16)), got 0x\(String(reply.type, radix: 16))")
        }
    }

    static func metaContextPayload(export: String, queries: [String] = [MetaContext.baseAllocation]) -> [UInt8] {
        let name = Array(export.utf8)
        var payload = bigEndianBytes(UInt32(name.count)) + name + bigEndianBytes(UInt32(queries.count))
        for query in queries { payload += bigEndianBytes(UInt32(query.utf8.count)) + Array(query.utf8) }
        return payload
    }
}

func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

extension Collection<UInt8> {
    /// The bytes read as one big-endian unsigned number (up to 8 of them).
    var bigEndianValue: UInt64 { reduce(0) { $0 << 8 | UInt64($1) } }
}
