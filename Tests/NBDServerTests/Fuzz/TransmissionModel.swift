import NBDProtocol

/// The exports the fuzzing runs against, as a client sees them.
enum FuzzExport: CaseIterable {
    /// "disk": 1 MiB of writable memory, every command advertised. Its
    /// second half belongs to the well-behaved client; fuzzed requests that
    /// would succeed only ever touch ``fuzzRegion``.
    case disk
    /// "archive": 64 KiB, read-only, no FUA.
    case archive

    var name: String { self == .disk ? "disk" : "archive" }
    var size: UInt64 { self == .disk ? 1 << 20 : 1 << 16 }
    var isReadOnly: Bool { self == .archive }
    var fuzzRegion: Range<UInt64> { self == .disk ? 0..<(1 << 19) : 0..<(1 << 16) }
    /// The region the well-behaved client owns.
    static let goodRegion: Range<UInt64> = (1 << 19)..<(1 << 20)
}

/// The spec's answer to a request, written from proto.md independently of
/// ``RequestValidation``: the oracle the fuzzing checks the server against.
enum TransmissionModel {
    static func expected(_ request: Request, in session: FuzzSession) -> ExpectedReply {
        let error = expectedError(request, in: session)
        let command = request.command
        if let error {
            // Structured replies forbid a simple reply to READ; this server
            // also answers BLOCK_STATUS errors with an error chunk.
            let chunk = session.structured && (command == .read || command == .blockStatus)
            return ExpectedReply(error: error, form: chunk ? .errorChunk : .simple)
        }
        switch command {
        case .read:
            let length = Int(request.length)
            return ExpectedReply(error: nil, form: session.structured ? .offsetData(length) : .simpleData(length))
        case .blockStatus: return ExpectedReply(error: nil, form: .blockStatus)
        default: return ExpectedReply(error: nil, form: .simple)
        }
    }

    static func expectedError(_ request: Request, in session: FuzzSession) -> ErrorCode? {
        let export = session.export
        guard let command = request.command else { return .invalid }
        let writes: Set<Command> = [.write, .trim, .writeZeroes]
        if export.isReadOnly && writes.contains(command) { return .permission }
        switch command {
        case .flush:
            if request.offset != 0 || request.length != 0 { return .invalid }
        case .disconnect:
            break
        default:
            // An empty range counts as out of range, as in nbdkit.
            let (end, overflow) = request.offset.addingReportingOverflow(UInt64(request.length))
            if request.length == 0 || overflow || end > export.size {
                return command == .write || command == .writeZeroes ? .noSpace : .invalid
            }
        }
        let flags = request.flags
        if !CommandFlags.known.isSuperset(of: flags) { return .invalid }
        if flags.contains(.noHole) && command != .writeZeroes { return .invalid }
        if flags.contains(.fastZero) && command != .writeZeroes { return .invalid }
        if flags.contains(.dontFragment) && (command != .read || !session.structured) { return .invalid }
        if flags.contains(.requestOne) && command != .blockStatus { return .invalid }
        if flags.contains(.fua) && export.isReadOnly { return .invalid }  // no SEND_FUA on the archive
        if (command == .read || command == .write) && request.length > ProtocolLimits.payloadMaximum { return .invalid }
        if command == .blockStatus && !(session.structured && session.baseAllocation) { return .invalid }
        return nil
    }

    /// Whether a request that succeeds would change bytes in `range`.
    static func wouldModify(_ request: Request, _ range: Range<UInt64>) -> Bool {
        guard let command = request.command, [.write, .trim, .writeZeroes].contains(command) else { return false }
        let end = request.offset &+ UInt64(request.length)
        return request.offset < range.upperBound && end > range.lowerBound
    }
}
