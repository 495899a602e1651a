public import Glibc

/// A record layer between a ``Socket`` and its descriptor: TLS, once a
/// client has negotiated it (the TLS target's session). A socket that has
/// one reads and writes plaintext through it; a socket without one makes
/// the system calls itself, and pays one nil check per call for the choice.
///
/// Concurrency: one thread receives and one thread sends at a time (a
/// connection's reader and its ``SocketWriter``'s current owner), possibly
/// at the same time as each other. An implementation must allow exactly
/// that and need allow no more.
public protocol RecordLayer: AnyObject, Sendable {
    /// Receives up to `buffer.count` plaintext bytes, at least one; 0 means
    /// the peer ended the stream. `waiting` says the caller is waiting for
    /// the peer's next message rather than the rest of one, and that this
    /// wait may poll before blocking, as ``Socket/readSome(into:)`` does
    /// (false, too, when the caller knows the peer is busy: see
    /// ``Socket/receive(into:count:polling:mayPoll:)``).
    func receive(into buffer: UnsafeMutableRawBufferPointer, waiting: Bool) throws(SocketError) -> Int

    /// Sends plaintext from the front of `count` vectors. Returns how many
    /// bytes were taken, at least one when `blocking`; without `blocking` 0
    /// means nothing could be sent now. Bytes taken are sent eventually, by
    /// this call or the next one, which must begin where this one stopped.
    func send(_ vectors: UnsafePointer<iovec>, count: Int, blocking: Bool) throws(SocketError) -> Int
}
