import BlockDevices
import NBDProtocol
import Sockets

extension Transmission {
    /// Runs one validated request against the export's device and sends its
    /// reply. Device failures are logged with their real cause and answered
    /// with the one error value ``ErrorTable`` gives them.
    func execute(_ request: Request, _ buffer: PayloadBuffer?, _ payloadLength: Int) async {
        // A WRITE, the request that most often waits (for a replica), runs
        // in a frame of its own: an async function's frame holds every
        // value any of its branches keeps across a wait, and this one's, at
        // 736 bytes, was what made each replicated write's task allocate
        // slabs beyond its first (bench/README, "Smaller frames").
        if request.command == .write {
            await executeWrite(request, buffer!, payloadLength)
        } else {
            await executeOther(request, buffer, payloadLength)
        }
    }

    private func executeWrite(_ request: Request, _ buffer: PayloadBuffer, _ payloadLength: Int) async {
        let started = ContinuousClock.now
        do {
            let data = UnsafeRawBufferPointer(rebasing: buffer.data[..<payloadLength])
            try await export.device.write(data, at: request.offset, fua: request.flags.contains(.fua))
            answer(request, buffer, payloadLength, since: started)
        } catch {
            answer(request, buffer, payloadLength, failure: error, since: started)
        }
    }

    private func executeOther(_ request: Request, _ buffer: PayloadBuffer?, _ payloadLength: Int) async {
        let device = export.device
        let offset = request.offset
        let length = UInt64(request.length)
        // Counted before the reply is queued: once the last reply has left,
        // the connection may close and fold its counts into the export's.
        let started = ContinuousClock.now
        do {
            switch request.command! {
            case .read:
                let data = UnsafeMutableRawBufferPointer(rebasing: buffer!.data[..<payloadLength])
                try await device.read(into: data, at: offset)
            case .write:
                preconditionFailure("a WRITE runs in executeWrite")
            case .flush:
                try await device.flush()
            case .trim:
                try await device.trim(at: offset, length: length, fua: request.flags.contains(.fua))
            case .writeZeroes:
                try await device.zero(at: offset, length: length, options: zeroOptions(request.flags))
            case .cache:
                try await device.cache(at: offset, length: length)
            case .blockStatus:
                let extents = try await device.blockStatus(at: offset, length: length)
                statistics.completed(.blockStatus, bytes: 0, error: nil, since: started)
                replies.send(blockStatusReply(request, extents))
                return
            case .disconnect:
                preconditionFailure("NBD_CMD_DISC is handled by the reader")
            }
            answer(request, buffer, payloadLength, since: started)
        } catch {
            answer(request, buffer, payloadLength, failure: error, since: started)
        }
    }

    /// Starts a READ or WRITE with the device's
    /// ``BlockDevice/startRead(into:at:whenDone:)`` or
    /// ``BlockDevice/startWrite(_:at:fua:whenDone:)``, so that no task is
    /// made for it; the thread that ends it answers it. False when the
    /// device has no such path for this request (or it is another command):
    /// nothing was started, and the caller runs it with ``execute(_:_:_:)``.
    func start(_ request: Request, _ buffer: PayloadBuffer, _ payloadLength: Int) -> Bool {
        let started = ContinuousClock.now
        let whenDone: @Sendable (DeviceError?) -> Void = { [self] failure in
            answer(request, buffer, payloadLength, failure: failure, since: started)
        }
        switch request.command {
        case .read:
            let data = UnsafeMutableRawBufferPointer(rebasing: buffer.data[..<payloadLength])
            return export.device.startRead(into: data, at: request.offset, whenDone: whenDone)
        case .write:
            let data = UnsafeRawBufferPointer(rebasing: buffer.data[..<payloadLength])
            return export.device.startWrite(data, at: request.offset, fua: request.flags.contains(.fua), whenDone: whenDone)
        default:
            return false
        }
    }

    /// Counts a request as ended and sends its reply: a READ's data, the
    /// acknowledgement of anything else without reply data, or the one
    /// error value ``ErrorTable`` gives `failure`, whose real cause is logged.
    @inline(never)
    private func answer(
        _ request: Request, _ buffer: PayloadBuffer?, _ payloadLength: Int, failure: DeviceError? = nil,
        since started: ContinuousClock.Instant
    ) {
        guard let failure else {
            statistics.completed(request.command, bytes: payloadLength, error: nil, since: started)
            if request.command == .read {
                replies.send(readReply(request, buffer!, payloadLength))
            } else {
                replies.send(successReply(request, buffer, payloadLength))
            }
            return
        }
        let code = ErrorTable.code(for: failure, flags: request.flags)
        statistics.completed(request.command, bytes: payloadLength, error: code, since: started)
        connection.logEvent(
            connection.failures, "\(request.command!) failed: \(failure.message)",
            metadata: ["offset": "\(request.offset)", "length": "\(request.length)", "error": "\(code)"],
            summaryLevel: .warning)
        if let buffer { connection.pool.release(buffer) }
        var reply = errorReply(request, code, failure.message)
        reply.heldBytes = payloadLength
        replies.send(reply)
    }

    private func zeroOptions(_ flags: CommandFlags) -> ZeroOptions {
        var options: ZeroOptions = []
        if !flags.contains(.noHole) { options.insert(.mayTrim) }
        if flags.contains(.fastZero) { options.insert(.fastOnly) }
        if flags.contains(.fua) { options.insert(.fua) }
        return options
    }

    /// A READ's data in one piece: an OFFSET_DATA chunk with DONE when
    /// structured replies were negotiated, else a simple reply. The header is
    /// written into the buffer's headroom, so header and data leave in one send.
    private func readReply(_ request: Request, _ buffer: PayloadBuffer, _ length: Int) -> OutgoingReply {
        var reply: OutgoingReply
        if session.structuredReplies {
            reply = .pooled(buffer, headerLength: ReplyHeader.offsetDataLength, dataLength: length) {
                ReplyHeader.writeOffsetData(into: $0, cookie: request.cookie, offset: request.offset, dataLength: UInt32(length))
            }
        } else {
            reply = .pooled(buffer, headerLength: ReplyHeader.simpleLength, dataLength: length) {
                ReplyHeader.writeSimple(into: $0, cookie: request.cookie, error: .none)
            }
        }
        reply.heldBytes = length
        return reply
    }

    /// The acknowledgement of a request without reply data. A WRITE's is
    /// written into its own buffer, which is released once it has left.
    private func successReply(_ request: Request, _ buffer: PayloadBuffer?, _ length: Int) -> OutgoingReply {
        var reply: OutgoingReply
        if let buffer {
            reply = .pooled(buffer, headerLength: ReplyHeader.simpleLength, dataLength: 0) {
                ReplyHeader.writeSimple(into: $0, cookie: request.cookie, error: .none)
            }
        } else {
            reply = .inline(length: ReplyHeader.simpleLength) {
                ReplyHeader.writeSimple(into: $0, cookie: request.cookie, error: .none)
            }
        }
        reply.heldBytes = length
        return reply
    }

    /// An error reply. With structured replies, READ and BLOCK_STATUS errors
    /// are ERROR chunks carrying the message; everything else gets a simple
    /// reply, which the spec allows for any command.
    func errorReply(_ request: Request, _ error: ErrorCode, _ message: String) -> OutgoingReply {
        if session.structuredReplies && (request.command == .read || request.command == .blockStatus) {
            return .frame(ReplyHeader.structuredError(cookie: request.cookie, error: error, message: message))
        }
        return .inline(length: ReplyHeader.simpleLength) {
            ReplyHeader.writeSimple(into: $0, cookie: request.cookie, error: error)
        }
    }

    /// One BLOCK_STATUS chunk for `base:allocation`, clipped to the request:
    /// a single descriptor with REQ_ONE, never more than the length asked.
    private func blockStatusReply(_ request: Request, _ extents: [Extent]) -> OutgoingReply {
        var remaining = UInt64(request.length)
        var descriptors: [(length: UInt32, flags: UInt32)] = []
        for extent in extents where remaining > 0 && extent.length > 0 {
            let length = min(extent.length, remaining)
            descriptors.append((UInt32(length), extent.flags.rawValue & 3))
            remaining -= length
            if request.flags.contains(.requestOne) { break }
        }
        guard !descriptors.isEmpty else {
            logger.error("device returned no extents for BLOCK_STATUS at \(request.offset)")
            return errorReply(request, .io, "device returned no extents")
        }
        return .frame(
            ReplyHeader.blockStatus(cookie: request.cookie, contextID: MetaContext.baseAllocationID, descriptors: descriptors))
    }
}
