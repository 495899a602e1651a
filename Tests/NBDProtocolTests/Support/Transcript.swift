import NBDProtocol
import Testing

/// Feeds whole client frames to a ``Negotiation`` the way the server's driver
/// does: the 16-byte option header first, then the payload if it is admitted.
struct Transcript {
    var negotiation: Negotiation

    /// A client that sent `flags` after the greeting (fixed newstyle and no
    /// zeroes unless told otherwise), to a server with `tls`.
    init(clientFlags: ClientFlags = [.fixedNewstyle, .noZeroes], tls: TLSPolicy = .off) {
        negotiation = Negotiation(directory: Directory(), tls: tls)
        let action = negotiation.receiveClientFlags(clientFlags.rawValue)
        #expect(action == nil, "the client flags were refused")
    }

    /// The action for one option frame whose header admits its payload.
    mutating func send(_ frame: [UInt8]) -> Negotiation.Action? {
        let admission = negotiation.admitOption(header: Array(frame.prefix(16)))
        guard case let .read(option, length) = admission else {
            Issue.record("option header \(hexString(frame.prefix(16))) was not admitted: \(admission)")
            return nil
        }
        #expect(Int(length) == frame.count - 16, "the frame's length field does not match its payload")
        return negotiation.receiveOption(option, payload: Array(frame.dropFirst(16)))
    }

    /// The bytes of a `.send` action, recording an issue for any other action.
    mutating func reply(to frame: [UInt8]) -> [UInt8] {
        guard case let .send(bytes) = send(frame) else {
            Issue.record("expected the negotiation to continue after \(hexString(frame.prefix(16)))")
            return []
        }
        return bytes
    }
}

/// An option frame as a client sends it: IHAVEOPT, option, length, payload.
func optionFrame(_ option: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
    var writer = WireWriter()
    writer.append(Magic.option)
    writer.append(option)
    writer.append(UInt32(payload.count))
    writer.append(payload)
    return writer.bytes
}

/// One option reply, decoded loosely for tests that check types rather than
/// every byte (error replies carry free-form messages).
struct OptionReplyFrame: Equatable, CustomStringConvertible {
    var option: UInt32
    var type: UInt32
    var data: [UInt8]

    var description: String { "reply(option \(option), type 0x\(String(type, radix: 16)), \(data.count) bytes)" }

    /// Splits a run of option replies; nil if the bytes are not exactly that.
    static func split(_ bytes: [UInt8]) -> [OptionReplyFrame]? {
        var reader = WireReader(bytes)
        var frames: [OptionReplyFrame] = []
        while reader.remaining > 0 {
            guard reader.read(UInt64.self) == Magic.optionReply, let option = reader.read(UInt32.self),
                let type = reader.read(UInt32.self), let length = reader.read(UInt32.self),
                let data = reader.read(count: Int(length))
            else { return nil }
            frames.append(OptionReplyFrame(option: option, type: type, data: Array(data)))
        }
        return frames
    }
}

/// The reply types of a `.send` action, in order.
func replyTypes(_ bytes: [UInt8]) -> [UInt32]? {
    OptionReplyFrame.split(bytes)?.map(\.type)
}
