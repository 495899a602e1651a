import Glibc
public import Sockets
import Synchronization
import Threading

/// A replication channel over a connected TCP (or Unix) socket. A thread
/// reads frames and hands them on in order; a ``SocketWriter`` sends them,
/// so a sender never blocks on the socket (a peer that stops reading stalls
/// only this link's writer thread). A frame's header travels in the queued
/// message itself; its data is borrowed from the sender (the write path's
/// 4 KiB and 1 MiB payloads: no copy, see ``send(_:borrowing:)``) or, for
/// answers and documents, copied.
public final class TCPChannel: ReplicationChannel {
    private let socket: Socket
    public let peerName: String
    private let writer: SocketWriter
    private let closeReason = Mutex<ReplicationError?>(nil)

    /// At most this many small frames wait for the end of a plugged
    /// thread's burst: 16, the NBD queue depth measured, so a burst of
    /// replicated 4 KiB writes from the NBD reader, or of acknowledgements
    /// from the replica's reader, leaves in one `sendmsg` and is read with
    /// one `recv`. More than a reply path holds (4): the other end answers
    /// nothing until it has the frames, so nothing is gained by splitting
    /// a burst, while each extra pass costs both ends a wake-up.
    static let holdCountMaximum = 16

    public init(socket: Socket, peerName: String) {
        self.socket = socket
        self.peerName = peerName
        let sink = FailureSink()
        writer = SocketWriter(
            socket: socket, holdCountMaximum: Self.holdCountMaximum,
            onFailure: { [peerName] error in
                sink.close(.linkLost("send to \(peerName): \(error)"))
            })
        sink.attach(self)
    }

    /// Where the writer reports a failed send: the channel, which closes
    /// (waking its reader, failing every request waiting for an answer).
    /// Weak, so the writer's thread does not keep the channel alive.
    private final class FailureSink: Sendable {
        private struct Reference { weak var channel: TCPChannel? }
        private let reference = Mutex(Reference())

        func attach(_ channel: TCPChannel) { reference.withLock { $0.channel = channel } }
        func close(_ reason: ReplicationError) { reference.withLock { $0.channel }?.close(reason) }
    }

    deinit { writer.close() }

    public func send(_ header: FrameHeader, data: UnsafeRawBufferPointer) throws(ReplicationError) {
        var message = Self.message(header)
        message.appendCopying(data)
        _ = try enqueue(message)
    }

    /// Queues the frame with `data` borrowed: the caller awaits
    /// ``released(_:)`` (or the peer's answer) before it reuses `data`.
    public func send(_ header: FrameHeader, borrowing data: UnsafeRawBufferPointer) throws(ReplicationError) -> SendTicket {
        var message = Self.message(header)
        message.appendBorrowing(data)
        return SendTicket(id: try enqueue(message).id)
    }

    public func released(_ ticket: SendTicket) async {
        guard ticket != .copied else { return }
        await writer.released(SocketWriter.Ticket(id: ticket.id))
    }

    private static func message(_ header: FrameHeader) -> Outgoing {
        Outgoing(headLength: FrameHeader.size) { header.encode(into: UnsafeMutableRawBufferPointer(start: $0, count: FrameHeader.size)) }
    }

    private func enqueue(_ message: Outgoing) throws(ReplicationError) -> SocketWriter.Ticket {
        guard let ticket = writer.send(message) else {
            throw closeReason.withLock { $0 } ?? .linkLost("connection to \(peerName) is closed")
        }
        return ticket
    }

    public func start(
        onFrame: @escaping @Sendable (Frame) -> Void, onClose: @escaping @Sendable (ReplicationError) -> Void,
        mayPoll: @escaping @Sendable () -> Bool
    ) {
        SystemThread.start(named: "peer-link") { [self] in
            let reason = readLoop(onFrame, mayPoll)
            close(reason)
            // Only this thread closes the descriptor, once the writer's
            // thread no longer uses it (a system thread may wait for that).
            writer.closeDescriptor()
            onClose(closeReason.withLock { $0 } ?? reason)
        }
    }

    private func readLoop(_ onFrame: (Frame) -> Void, _ mayPoll: () -> Bool) -> ReplicationError {
        var stream = ReadAheadBuffer()
        // While more frames are already read, the answers this thread sends
        // (a replica's acknowledgements) wait to leave together.
        let plug = SubmissionPlug()
        while true {
            do throws(ReplicationError) {
                if stream.buffered < FrameHeader.size { plug.finish() }
                let bytes: UnsafeRawPointer
                do throws(SocketError) {
                    // Polls briefly before it blocks (Socket.readSome): waking a
                    // blocked thread costs more than the round trip.
                    bytes = try stream.next(FrameHeader.size, from: socket, mayPoll: mayPoll())
                } catch {
                    throw Self.lost(error, peerName)
                }
                let header = try FrameHeader(decoding: UnsafeRawBufferPointer(start: bytes, count: FrameHeader.size))
                let payload = header.payloadLength == 0 ? FramePayload.empty : FramePayload(count: Int(header.payloadLength))
                if header.payloadLength > 0 {
                    do throws(SocketError) {
                        try stream.fill(UnsafeMutableRawBufferPointer(rebasing: payload.bytes[..<Int(header.payloadLength)]), from: socket)
                    } catch {
                        throw Self.lost(error, peerName)
                    }
                }
                if stream.buffered >= FrameHeader.size { plug.start() }
                onFrame(Frame(header, payload: payload))
            } catch {
                plug.finish()
                if case .malformed = error {
                    // Say why before hanging up, so the other side's log shows it.
                    try? send(Frame.document(.refuse, Array(error.description.utf8)))
                }
                return error
            }
        }
    }

    private static func lost(_ error: SocketError, _ peer: String) -> ReplicationError {
        switch error {
        case .closed: .linkLost("\(peer) closed the connection")
        case .truncated: .linkLost("\(peer) closed the connection in the middle of a frame")
        case let .system(call, code): .linkLost("\(call) from \(peer): \(String(cString: strerror(code)))")
        case let .records(message): .linkLost("\(message) from \(peer)")
        }
    }

    public func close(_ reason: ReplicationError) {
        closeReason.withLock { if $0 == nil { $0 = reason } }
        // Refuses later frames, drops queued ones, wakes a blocked write and
        // the reader (the writer shuts the socket down while it is open).
        writer.shutDown()
    }
}
