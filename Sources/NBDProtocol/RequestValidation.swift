/// Every check a request must pass before a device sees it, in one place and
/// in one order, so that devices can trust their preconditions.
///
/// The order follows the spec and matches nbdkit's, so that both servers
/// answer the same invalid request with the same error:
/// 1. a write, trim or zero on a read-only export: EPERM;
/// 2. an unknown command: EINVAL;
/// 3. an empty range, or one past the end: ENOSPC for WRITE and
///    WRITE_ZEROES (the client asked to store data where there is no room),
///    EINVAL for the rest (nbdkit, too, counts an empty range as out of
///    range); FLUSH must have offset and length 0;
/// 4. unknown flags, or flags on commands they do not apply to: EINVAL;
/// 5. a READ or WRITE longer than the maximum payload: EINVAL
///    (EOVERFLOW is reserved for a READ with DF that cannot fit one chunk,
///    which never happens here since every READ is sent as one chunk);
/// 6. a command the export did not advertise: EINVAL;
/// 7. BLOCK_STATUS without structured replies and `base:allocation`: EINVAL.
public struct RequestValidation: Sendable {
    public let session: NegotiatedSession

    public init(session: NegotiatedSession) { self.session = session }

    /// Returns nil when the request may proceed, else the error to reply and
    /// a sentence for the log.
    public func check(_ request: Request) -> (error: ErrorCode, reason: String)? {
        let flags = session.export.flags
        let size = session.export.size
        guard let command = request.command else {
            return (.invalid, "unknown command \(request.type)")
        }
        let isWriteLike = command == .write || command == .trim || command == .writeZeroes
        if isWriteLike && flags.contains(.readOnly) {
            return (.permission, "\(command) on a read-only export")
        }
        switch command {
        case .flush:
            if request.offset != 0 || request.length != 0 {
                return (.invalid, "FLUSH with offset \(request.offset) and length \(request.length), expected 0 and 0")
            }
        case .disconnect:
            break
        default:
            // An empty range is refused, not served as a no-op: an empty
            // READ or WRITE has no payload buffer, which executing one relies
            // on (an empty READ used to trap the server).
            let (end, overflow) = request.offset.addingReportingOverflow(UInt64(request.length))
            if request.length == 0 || overflow || end > size {
                let error: ErrorCode = (command == .write || command == .writeZeroes) ? .noSpace : .invalid
                return (error, "\(command) of \(request.length) bytes at \(request.offset) is past the end (\(size) bytes)")
            }
        }
        if let reason = flagProblem(request.flags, command) { return (.invalid, reason) }
        if (command == .read || command == .write) && request.length > ProtocolLimits.payloadMaximum {
            return (.invalid, "\(command) of \(request.length) bytes exceeds the \(ProtocolLimits.payloadMaximum)-byte maximum")
        }
        if let missing = requiredFlag(command), !flags.contains(missing) {
            return (.invalid, "\(command) is not supported by this export")
        }
        if command == .blockStatus && !(session.structuredReplies && session.baseAllocation) {
            return (.invalid, "BLOCK_STATUS without structured replies and base:allocation negotiated")
        }
        return nil
    }

    private func flagProblem(_ flags: CommandFlags, _ command: Command) -> String? {
        if !CommandFlags.known.isSuperset(of: flags) {
            return "unknown command flags 0x\(String(flags.subtracting(.known).rawValue, radix: 16))"
        }
        if flags.contains(.noHole) && command != .writeZeroes { return "NO_HOLE on \(command)" }
        if flags.contains(.fastZero) && command != .writeZeroes { return "FAST_ZERO on \(command)" }
        if flags.contains(.dontFragment) {
            if command != .read { return "DF on \(command)" }
            if !session.structuredReplies { return "DF without structured replies" }
        }
        if flags.contains(.requestOne) && command != .blockStatus { return "REQ_ONE on \(command)" }
        if flags.contains(.fua) && !session.export.flags.contains(.sendFUA) { return "FUA is not supported by this export" }
        return nil
    }

    private func requiredFlag(_ command: Command) -> TransmissionFlags? {
        switch command {
        case .flush: .sendFlush
        case .trim: .sendTrim
        case .writeZeroes: .sendWriteZeroes
        case .cache: .sendCache
        default: nil
        }
    }
}
