import BlockDevices
import Logging
import NBDProtocol
import Sockets
import Threading

/// The transmission phase of one connection: the reader loop.
///
/// Per request: decode the header, validate it (``RequestValidation``, the
/// one place where requests are checked), wait for room under the in-flight
/// limits, read a WRITE's payload into a pooled buffer, and start a task that
/// executes it and sends the reply (or, for a read or write the device can
/// start without one, start it directly; its callback replies). Invalid
/// requests are answered at once (and an invalid WRITE's payload is still
/// read and dropped, so the stream stays in step). A bad magic means the
/// stream cannot be trusted: the connection closes.
///
/// A class, not a struct: each request's task or completion closure
/// captures it, and a struct's copy (296 bytes of closure context, against
/// 112) retained each of its references, the session's strings included,
/// on the reader and released them on the thread that ended the request,
/// another core's for a replicated write (bench/README, "A replicated write
/// without a task").
final class Transmission: Sendable {
    let connection: Connection
    /// The connection's socket, or the same descriptor through TLS.
    let socket: Socket
    let export: Export
    let session: NegotiatedSession
    let validation: RequestValidation
    let replies: ReplyChannel
    let statistics: ConnectionStatistics
    /// The device may take reads and writes without a task (asked once: a
    /// device that never does costs nothing for it).
    let startsWithoutTask: Bool

    init(
        connection: Connection, socket: Socket, export: Export, session: NegotiatedSession, statistics: ConnectionStatistics
    ) {
        self.connection = connection
        self.statistics = statistics
        self.socket = socket
        self.export = export
        self.session = session
        self.validation = RequestValidation(session: session)
        self.startsWithoutTask = export.device.capabilities.startsWithoutTask
        let gate = connection.gate
        self.replies = ReplyChannel(
            socket: socket, pool: connection.pool,
            completed: { count, bytes in
                gate.withLock {
                    $0.requests -= count
                    $0.bytes -= bytes
                    precondition($0.requests >= 0 && $0.bytes >= 0, "in-flight accounting went negative: \($0)")
                }
                gate.broadcast()
            },
            onFailure: { [connection] error in
                connection.logger.warning("cannot send replies: \(error); closing the connection")
                connection.terminate()
            })
    }

    var logger: Logger { connection.logger }

    func run() {
        var stream = ReadAheadBuffer()
        // Plugged mid-burst: the replies made on this thread, and what the
        // device sends on it (a replicated write's frame), leave together.
        let plug = SubmissionPlug()
        defer {
            plug.finish()
            // Every request in flight finishes and is answered before the socket closes.
            connection.waitUntilIdle()
            replies.close()
        }
        do {
            while try serveNext(&stream, plug) {}
        } catch {
            connection.logEnd(error, phase: "transmission")
        }
    }

    /// Reads and dispatches one request. False when the client disconnected.
    private func serveNext(_ stream: inout ReadAheadBuffer, _ plug: SubmissionPlug) throws(SocketError) -> Bool {
        // Held replies and device sends leave before this thread reads (and
        // may block) for more; see `plugIfInBurst`.
        if stream.buffered < ProtocolLimits.requestHeaderLength {
            plug.finish()
        }
        let header = try stream.next(ProtocolLimits.requestHeaderLength, from: socket, mayPoll: connection.clientMayBeWaiting)
        let request: Request
        switch Result(catching: { () throws(Request.DecodeError) in try Request.decode(header) }) {
        case let .success(decoded): request = decoded
        case let .failure(error):
            logger.warning("closing connection: \(error) in a request header")
            return false
        }
        if request.command == .disconnect {
            logger.debug("client sent NBD_CMD_DISC")
            return false
        }
        if let (error, reason) = validation.check(request) {
            connection.logEvent(
                connection.refusals, "refused request: \(reason)", metadata: ["error": "\(error)"], summaryLevel: .notice)
            if request.hasPayload { try stream.skip(UInt64(request.length), from: socket) }
            admit(bytes: 0, plug)
            statistics.refused(request.command, error: error)
            replies.send(errorReply(request, error, reason))
            return true
        }
        let payloadLength = (request.command == .read || request.command == .write) ? Int(request.length) : 0
        guard admit(bytes: payloadLength, plug) else {
            if request.hasPayload { try stream.skip(UInt64(request.length), from: socket) }
            statistics.refused(request.command, error: .shutdown)
            replies.send(errorReply(request, .shutdown, "server is shutting down"))
            return true
        }
        var buffer: PayloadBuffer?
        if payloadLength > 0 {
            let taken = connection.pool.take(payloadLength)
            buffer = taken
            if request.hasPayload {
                do {
                    try stream.fill(UnsafeMutableRawBufferPointer(rebasing: taken.data[..<payloadLength]), from: socket)
                } catch {
                    connection.pool.release(taken)
                    release(bytes: payloadLength, requests: 1)
                    throw error
                }
            }
        }
        plugIfInBurst(stream, plug)
        let held = buffer
        // A device whose reads and writes end on its own callback thread
        // (RADOS) starts them here with no task at all: the task, its
        // allocator's first slab (large enough to make malloc consolidate)
        // and its executor preference were about 2 µs of a 4K RADOS write
        // (bench/README, "No task per RADOS write").
        if startsWithoutTask, let held, start(request, held, payloadLength) { return true }
        // Everything else runs on this reader thread until the device first waits: a file
        // device never does, so its requests cost no thread hop at all; a
        // RADOS device waits at its submission, and the reader moves on to
        // the next request while the cluster works. Where it resumes is
        // the CompletionExecutor's choice: on the thread that completed the
        // wait when that thread allows it, else on the pool.
        Task.immediate(executorPreference: CompletionExecutor.shared) { await execute(request, held, payloadLength) }
        return true
    }

    /// In a burst (this request came with others: the plug is already in,
    /// or the next request's header is read in behind this one), what this
    /// request sends (its reply, a replicated write's frame) may wait to
    /// leave with the rest of the burst's. Decided once the request is read:
    /// the burst's first request is then plugged too, marked as the first,
    /// so its reply still leaves at once (the client starts on it) while a
    /// replicated write's frame waits for the others: it had left alone, one
    /// `sendmsg` to the peer per burst more than needed (bench/README, "The
    /// first frame of a burst").
    private func plugIfInBurst(_ stream: borrowing ReadAheadBuffer, _ plug: SubmissionPlug) {
        let midBurst = plug.isStarted
        if midBurst || stream.buffered >= ProtocolLimits.requestHeaderLength {
            plug.start(firstOfBurst: !midBurst)
        }
    }

    /// Waits for room under the limits, then counts the request in. False
    /// when the server is draining (the request is still counted, since its
    /// ESHUTDOWN reply is in flight).
    @discardableResult
    private func admit(bytes: Int, _ plug: SubmissionPlug) -> Bool {
        let limits = connection.limits
        // A local function, not a closure in a constant: that one was
        // escaping, so every request allocated its context.
        func hasRoom(_ gate: Connection.Gate) -> Bool {
            gate.draining
                || (gate.requests < limits.requestsInFlight && gate.bytes + bytes <= max(limits.bytesInFlight, bytes))
        }
        // Held replies and sends must leave before waiting: they are what frees room.
        if !connection.gate.withLock({ hasRoom($0) }) {
            plug.finish()
        }
        return connection.gate.wait(until: hasRoom) { gate in
            gate.requests += 1
            if gate.draining { return false }
            gate.bytes += bytes
            return true
        }
    }

    func release(bytes: Int, requests: Int = 0) {
        connection.gate.withLock {
            $0.bytes -= bytes
            $0.requests -= requests
            precondition($0.requests >= 0 && $0.bytes >= 0, "in-flight accounting went negative: \($0)")
        }
        connection.gate.broadcast()
    }
}
