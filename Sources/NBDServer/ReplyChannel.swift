import Glibc
import Sockets

/// The one writer of a connection's replies: a ``SocketWriter`` (which
/// states the rules: three ways out, why bytes never interleave, when a
/// message is released) plus the connection's in-flight accounting. Replies
/// never interleave, and may leave in any order relative to their requests.
///
/// ## In-flight accounting (with ``Transmission``)
/// - The reader counts a request in (`Connection.Gate.requests`, and its
///   payload bytes) before dispatching it, and waits while the limits are
///   reached (`Transmission.admit`).
/// - Every admitted request produces exactly one reply with
///   `completedRequests` 1, carrying its payload bytes in `heldBytes`
///   (`Transmission+Execute`); a refused request's reply holds none.
/// - The writer releases each reply once, whether it was sent or dropped
///   after a socket failure, and reports its counts to `completed` then
///   (after its pooled buffer is back in the pool).
/// - The only other way out is `Transmission.release`, for a WRITE whose
///   payload could not be read.
/// Preconditions trap a count that goes negative (once, a miscount hung
/// shutdown, which waits for the count to reach zero). After ``close()``
/// the writer thread ends.
final class ReplyChannel: Sendable {
    /// At most this many replies wait on a plugged thread, so the client can
    /// start on the first ones while the rest of a burst is served (2 cores:
    /// the client and the reader must overlap, not take turns). Fewer than a
    /// replication link holds (16): a reply ends a request the client waits
    /// for, and each one it gets sooner lets it send the next.
    static let holdCountMaximum = 4
    // The burst's first reply is not held at all, for the same reason: held,
    // the client took more CPU per write, not less (bench/README, "The first
    // frame of a burst").

    private let writer: SocketWriter
    /// The connection's reader, which made this channel: it serves this
    /// client alone, so it may block on this socket and finish a large
    /// reply it sends itself (``SocketWriter``'s way 4). Completion threads
    /// (a replication link's reader, librados' callbacks) serve many and
    /// never do.
    private let readerThread = pthread_self()

    /// Made on the connection's reader thread. `completed` hears the number
    /// of replies that left (or were dropped) and the payload bytes they
    /// held, so the connection can admit more.
    init(
        socket: Socket, pool: BufferPool, completed: @escaping @Sendable (_ replies: Int, _ bytes: Int) -> Void,
        onFailure: @escaping @Sendable (SocketError) -> Void
    ) {
        writer = SocketWriter(
            socket: socket, holdCountMaximum: Self.holdCountMaximum, holdsFirstOfBurst: false, pool: pool,
            completed: completed, onFailure: onFailure)
    }

    func send(_ reply: OutgoingReply) {
        writer.send(reply, finishingHere: pthread_equal(pthread_self(), readerThread) != 0)
    }

    /// Stops the writer thread once the queue is empty.
    func close() { writer.close() }
}
