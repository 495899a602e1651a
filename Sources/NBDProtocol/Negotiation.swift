/// The fixed-newstyle handshake as a state machine with no I/O.
///
/// Lifecycle: the server sends ``greeting``; the client answers with 4 bytes
/// of flags (``receiveClientFlags(_:)``); then the client sends options, each
/// a 16-byte header (``admitOption(header:)``) and a payload the server reads
/// only when admitted (``receiveOption(_:payload:)``). Each option yields
/// replies to send; NBD_OPT_EXPORT_NAME and a successful NBD_OPT_GO end the
/// handshake with ``Action/startTransmission(_:reply:)``; NBD_OPT_ABORT and
/// protocol violations end it with a close. The driver owns the socket and
/// performs the actions in order.
///
/// TLS (``TLSPolicy``): NBD_OPT_STARTTLS, when offered, is acknowledged with
/// ``Action/startTLS(reply:)``; the driver sends the ACK, runs the TLS
/// handshake and reports success with ``tlsEstablished()`` (a failed
/// handshake closes the connection). The options phase then starts again
/// over TLS: what was negotiated in plain text (structured replies, a meta
/// context) is forgotten, since anyone on the path could have sent it. Under ``TLSPolicy/require``, before TLS every option
/// but STARTTLS and ABORT is refused with NBD_REP_ERR_TLS_REQD, and
/// NBD_OPT_EXPORT_NAME (which has no error reply) closes the connection.
public struct Negotiation {
    public enum Action: Equatable {
        /// Send these bytes and keep negotiating.
        case send([UInt8])
        /// Send these bytes (possibly none), then close the connection.
        case sendAndClose([UInt8], reason: String)
        /// Send these bytes, then serve requests for the negotiated export.
        case startTransmission(NegotiatedSession, reply: [UInt8])
        /// Send this error reply, log `reason`, and keep negotiating: an
        /// option refused by policy (TLS required), which the operator
        /// should be able to see.
        case refuse([UInt8], reason: String)
        /// Send this acknowledgement of NBD_OPT_STARTTLS, then run the TLS
        /// handshake; call ``tlsEstablished()`` once it succeeds and
        /// negotiate on over TLS; close if it fails.
        case startTLS(reply: [UInt8])
    }

    /// What to do with an option's payload, decided from its header alone.
    public enum Admission: Equatable {
        /// Read `length` bytes and pass them to ``receiveOption(_:payload:)``.
        case read(option: UInt32, length: UInt32)
        /// Too large to hold: skip `length` bytes unbuffered, then send the reply.
        case skipThenReply(length: UInt32, reply: [UInt8])
        /// The header itself is unacceptable.
        case close(reason: String)
    }

    public static let serverFlags: HandshakeFlags = [.fixedNewstyle, .noZeroes]

    private let directory: any ExportDirectory
    private let tls: TLSPolicy
    /// TLS is up: every later byte of the connection is inside it.
    private var tlsActive = false
    /// STARTTLS was acknowledged and the handshake has not yet succeeded.
    private var tlsHandshaking = false
    private var clientFlags: ClientFlags = []
    private var structuredReplies = false
    /// The export whose `base:allocation` context was selected, if any.
    private var baseAllocationExport: String?

    public init(directory: any ExportDirectory, tls: TLSPolicy = .off) {
        self.directory = directory
        self.tls = tls
    }

    /// The TLS handshake after ``Action/startTLS(reply:)`` succeeded: the
    /// options phase starts again, remembering nothing from before.
    public mutating func tlsEstablished() {
        precondition(tlsHandshaking, "a TLS handshake finished that STARTTLS did not start")
        tlsHandshaking = false
        tlsActive = true
        structuredReplies = false
        baseAllocationExport = nil
    }

    /// NBDMAGIC, IHAVEOPT, handshake flags: 18 bytes.
    public static var greeting: [UInt8] {
        var writer = WireWriter(capacity: 18)
        writer.append(Magic.server)
        writer.append(Magic.option)
        writer.append(serverFlags.rawValue)
        return writer.bytes
    }

    /// The client's flags. Unknown bits mean a client we cannot serve: the
    /// spec says to close.
    public mutating func receiveClientFlags(_ raw: UInt32) -> Action? {
        let flags = ClientFlags(rawValue: raw)
        guard ClientFlags.known.isSuperset(of: flags) else {
            return .sendAndClose([], reason: "client sent unknown handshake flags 0x\(String(raw, radix: 16))")
        }
        clientFlags = flags
        return nil
    }

    /// Decides from a 16-byte option header whether to read its payload.
    public func admitOption(header: [UInt8]) -> Admission {
        var reader = WireReader(header)
        guard let magic = reader.read(UInt64.self), let option = reader.read(UInt32.self),
            let length = reader.read(UInt32.self)
        else { return .close(reason: "truncated option header") }
        guard magic == Magic.option else {
            return .close(reason: "bad option magic 0x\(String(magic, radix: 16))")
        }
        guard length <= ProtocolLimits.optionLengthMaximum else {
            guard length <= ProtocolLimits.optionDrainMaximum, option != Option.exportName.rawValue else {
                return .close(reason: "option \(option) with a \(length)-byte payload is too large to skip")
            }
            return .skipThenReply(
                length: length,
                reply: Self.reply(option, .errorTooBig, message: "option payload of \(length) bytes is too large"))
        }
        return .read(option: option, length: length)
    }

    /// Handles one option whose payload has been read.
    public mutating func receiveOption(_ code: UInt32, payload: [UInt8]) -> Action {
        if !clientFlags.contains(.fixedNewstyle) && code != Option.exportName.rawValue {
            // A client without fixed newstyle cannot take an error reply,
            // so this comes before the ERR_UNSUP for unknown options too.
            return .sendAndClose([], reason: "option \(code) from a client without fixed newstyle")
        }
        precondition(!tlsHandshaking, "an option was read while the TLS handshake was due")
        if tls == .require && !tlsActive, let refusal = refuseBeforeTLS(code) { return refusal }
        guard let option = Option(rawValue: code) else {
            return unsupported(code, "unknown option \(code)")
        }
        switch option {
        case .exportName: return exportName(payload)
        case .abort: return .sendAndClose(Self.reply(code, .ack), reason: "client aborted negotiation")
        case .list: return list(payload)
        case .info, .go: return infoOrGo(option, payload)
        case .structuredReply: return structuredReply(payload)
        case .listMetaContext, .setMetaContext: return metaContext(option, payload)
        case .startTLS: return startTLS(payload)
        case .peekExport, .extendedHeaders:
            return unsupported(code, "option \(option) is not supported by this server")
        }
    }

    private func unsupported(_ code: UInt32, _ message: String) -> Action {
        .send(Self.reply(code, .errorUnsupported, message: message))
    }

    // MARK: - TLS

    /// Under ``TLSPolicy/require`` before TLS: nil for the options allowed
    /// then (STARTTLS, ABORT), the refusal for every other, known or not.
    private func refuseBeforeTLS(_ code: UInt32) -> Action? {
        switch Option(rawValue: code) {
        case .startTLS, .abort: return nil
        case .exportName:
            return .sendAndClose([], reason: "client chose an export with NBD_OPT_EXPORT_NAME before TLS, which this server requires")
        default:
            return .refuse(
                Self.reply(code, .errorTLSRequired, message: "this server requires TLS: send NBD_OPT_STARTTLS first"),
                reason: "client sent option \(code) before TLS, which this server requires (NBD_REP_ERR_TLS_REQD)")
        }
    }

    private mutating func startTLS(_ payload: [UInt8]) -> Action {
        let code = Option.startTLS.rawValue
        guard tls != .off else {
            return .send(Self.reply(code, .errorPolicy, message: "this server is not configured for TLS"))
        }
        guard !tlsActive else { return .send(Self.reply(code, .errorInvalid, message: "TLS is already active")) }
        guard payload.isEmpty else { return .send(Self.reply(code, .errorInvalid, message: "STARTTLS takes no payload")) }
        tlsHandshaking = true
        return .startTLS(reply: Self.reply(code, .ack))
    }

    // MARK: - Options

    private func exportName(_ payload: [UInt8]) -> Action {
        let name = String(decoding: payload, as: UTF8.self)
        guard payload.count <= ProtocolLimits.stringMaximum, let export = directory.export(named: name) else {
            // EXPORT_NAME has no error reply: closing is all the spec allows.
            return .sendAndClose([], reason: "client asked for unknown export \"\(name)\"")
        }
        var writer = WireWriter(capacity: 134)
        writer.append(export.size)
        writer.append(advertised(export).flags.rawValue)
        if !clientFlags.contains(.noZeroes) { writer.append(zeroes: 124) }
        return .startTransmission(session(for: export), reply: writer.bytes)
    }

    private func list(_ payload: [UInt8]) -> Action {
        guard payload.isEmpty else {
            return .send(Self.reply(Option.list.rawValue, .errorInvalid, message: "LIST takes no payload"))
        }
        var replies: [UInt8] = []
        for export in directory.exports {
            var data = WireWriter()
            let name = Array(export.name.utf8)
            data.append(UInt32(name.count))
            data.append(name)
            data.append(export.description.utf8)
            replies += Self.reply(Option.list.rawValue, .server, data: data.bytes)
        }
        return .send(replies + Self.reply(Option.list.rawValue, .ack))
    }

    private func infoOrGo(_ option: Option, _ payload: [UInt8]) -> Action {
        var reader = WireReader(payload)
        guard let nameLength = reader.read(UInt32.self), nameLength <= ProtocolLimits.stringMaximum,
            let nameBytes = reader.read(count: Int(nameLength)), let requestCount = reader.read(UInt16.self),
            reader.remaining == Int(requestCount) * 2
        else {
            return .send(Self.reply(option.rawValue, .errorInvalid, message: "malformed \(option) payload"))
        }
        let name = String(decoding: nameBytes, as: UTF8.self)
        guard let export = directory.export(named: name) else {
            return .send(Self.reply(option.rawValue, .errorUnknown, message: "no export named \"\(name)\""))
        }
        var requested: Set<UInt16> = []
        for _ in 0..<requestCount { requested.insert(reader.read(UInt16.self)!) }
        var replies = Self.infoReplies(option, advertised(export), requested: requested)
        replies += Self.reply(option.rawValue, .ack)
        if option == .go { return .startTransmission(session(for: export), reply: replies) }
        return .send(replies)
    }

    private static func infoReplies(_ option: Option, _ export: ExportDescription, requested: Set<UInt16>) -> [UInt8] {
        var info = WireWriter()
        info.append(InfoType.export.rawValue)
        info.append(export.size)
        info.append(export.flags.rawValue)
        var replies = reply(option.rawValue, .info, data: info.bytes)
        if requested.contains(InfoType.name.rawValue) {
            var name = WireWriter()
            name.append(InfoType.name.rawValue)
            name.append(export.name.utf8)
            replies += reply(option.rawValue, .info, data: name.bytes)
        }
        if requested.contains(InfoType.description.rawValue), !export.description.isEmpty {
            var text = WireWriter()
            text.append(InfoType.description.rawValue)
            text.append(export.description.utf8.prefix(ProtocolLimits.stringMaximum))
            replies += reply(option.rawValue, .info, data: text.bytes)
        }
        // Block sizes are always sent: the limits hold whether or not the
        // client asked, and clients that did not ask ignore the item.
        var sizes = WireWriter()
        sizes.append(InfoType.blockSize.rawValue)
        sizes.append(export.blockSizeMinimum)
        sizes.append(export.blockSizePreferred)
        sizes.append(export.blockSizeMaximum)
        replies += reply(option.rawValue, .info, data: sizes.bytes)
        return replies
    }

    private mutating func structuredReply(_ payload: [UInt8]) -> Action {
        let code = Option.structuredReply.rawValue
        guard payload.isEmpty else {
            return .send(Self.reply(code, .errorInvalid, message: "STRUCTURED_REPLY takes no payload"))
        }
        structuredReplies = true
        return .send(Self.reply(code, .ack))
    }

    private mutating func metaContext(_ option: Option, _ payload: [UInt8]) -> Action {
        let code = option.rawValue
        guard structuredReplies else {
            return .send(Self.reply(code, .errorInvalid, message: "negotiate structured replies before meta contexts"))
        }
        var reader = WireReader(payload)
        guard let nameLength = reader.read(UInt32.self), nameLength <= ProtocolLimits.stringMaximum,
            let nameBytes = reader.read(count: Int(nameLength)), let queryCount = reader.read(UInt32.self)
        else { return .send(Self.reply(code, .errorInvalid, message: "malformed \(option) payload")) }
        var queries: [String] = []
        for _ in 0..<queryCount {
            guard let length = reader.read(UInt32.self), length <= ProtocolLimits.stringMaximum,
                let query = reader.read(count: Int(length))
            else { return .send(Self.reply(code, .errorInvalid, message: "malformed meta context query")) }
            queries.append(String(decoding: query, as: UTF8.self))
        }
        guard reader.remaining == 0 else {
            return .send(Self.reply(code, .errorInvalid, message: "trailing bytes after meta context queries"))
        }
        let name = String(decoding: nameBytes, as: UTF8.self)
        guard let export = directory.export(named: name) else {
            return .send(Self.reply(code, .errorUnknown, message: "no export named \"\(name)\""))
        }
        let matches: Bool
        if option == .listMetaContext {
            // No query lists everything; "base:" lists every base context.
            matches = queries.isEmpty || queries.contains { $0 == "base:" || $0 == MetaContext.baseAllocation }
        } else {
            matches = queries.contains(MetaContext.baseAllocation)
            baseAllocationExport = matches ? export.name : nil
        }
        var replies: [UInt8] = []
        if matches {
            var data = WireWriter()
            // The spec reserves the id in LIST replies (it SHOULD be 0);
            // only SET hands out the id BLOCK_STATUS replies will carry.
            data.append(option == .setMetaContext ? MetaContext.baseAllocationID : 0)
            data.append(MetaContext.baseAllocation.utf8)
            replies += Self.reply(code, .metaContext, data: data.bytes)
        }
        return .send(replies + Self.reply(code, .ack))
    }

    /// The export as this client sees it: DF only means something (and is
    /// only advertised) once structured replies are negotiated.
    private func advertised(_ export: ExportDescription) -> ExportDescription {
        var result = export
        if structuredReplies { result.flags.insert(.sendDF) }
        return result
    }

    private func session(for export: ExportDescription) -> NegotiatedSession {
        NegotiatedSession(
            export: advertised(export), structuredReplies: structuredReplies,
            baseAllocation: structuredReplies && baseAllocationExport == export.name)
    }

    // MARK: - Encoding

    /// An option reply: magic, option, reply type, length, data.
    public static func reply(_ option: UInt32, _ type: OptionReply, data: [UInt8] = []) -> [UInt8] {
        var writer = WireWriter(capacity: 20 + data.count)
        writer.append(Magic.optionReply)
        writer.append(option)
        writer.append(type.rawValue)
        writer.append(UInt32(data.count))
        writer.append(data)
        return writer.bytes
    }

    /// An error reply carrying a human-readable message, as the spec allows.
    public static func reply(_ option: UInt32, _ type: OptionReply, message: String) -> [UInt8] {
        reply(option, type, data: Array(message.utf8.prefix(ProtocolLimits.stringMaximum)))
    }
}
