internal import CGnuTLS
public import Glibc
public import Sockets

/// One client's TLS session over its socket: the handshake, then plaintext
/// in and out as a ``RecordLayer``.
///
/// ## Threads (the GnuTLS rule this relies on)
/// After the handshake, a connection's reader thread receives while whoever
/// owns its ``SocketWriter`` sends, at the same time. The GnuTLS manual,
/// section 6.1.5 "Thread safety" (https://gnutls.org/manual/html_node/Thread-safety.html),
/// allows exactly this: "A gnutls_session_t object could also be shared by
/// two threads, one sending, the other receiving", except for
/// re-handshakes and `GNUTLS_AUTO_REAUTH`, and a session ended only by the
/// sender with `gnutls_bye(GNUTLS_SHUT_WR)`. So: this server never starts
/// a re-handshake, treats a client's attempt (`GNUTLS_E_REHANDSHAKE`) as a
/// failure that closes the connection, never sets `GNUTLS_AUTO_REAUTH`, and
/// never calls `gnutls_bye` (the connection ends by closing its socket once
/// both threads are done). A TLS 1.3 key update the client asks for only
/// marks the session on the receiving side; GnuTLS sends the answer from
/// the next `gnutls_record_send`, on the sending side.
///
/// The push and pull functions each touch only their own side's fields
/// (`sendFlags`; `receiveWaiting`, the read-ahead and the poll budget), so
/// the two threads share nothing of ours.
///
/// Copies: GnuTLS encrypts from the caller's memory into its own record
/// buffer and decrypts a record before copying it to the caller: the
/// encryption's own passes, and on the receiving side one copy of
/// ciphertext up to 16 KiB per record, which saves a system call per record
/// (``readAhead``, measured below). Kernel TLS (`KTLS` in the priority
/// string) would let the kernel do it, but the kernel here has no `tls`
/// upper-layer protocol (`/proc/sys/net/ipv4/tcp_available_ulp`), so it is
/// not used.
// Safety: GnuTLS permits one sending and one receiving thread on a session
// (above); `sendFlags` is touched only by the sender, `receiveWaiting`, the
// read-ahead and the poll budget only by the receiver; the session is freed in deinit, once neither holds it.
public final class TLSSession: RecordLayer, @unchecked Sendable {
    let session: gnutls_session_t
    let descriptor: Int32
    /// Flags for the next `sendmsg` of the push function (sending side only).
    var sendFlags = Int32(MSG_NOSIGNAL)
    /// Whether the next pull waits for a new message (receiving side only).
    var receiveWaiting = false
    /// Small messages (reply headers, option replies) are gathered into one
    /// record this large at most: a 16-byte reply in a record of its own
    /// costs a record's 22 bytes of overhead, a cipher call and a system call.
    static let gatherCapacity = 16 * 1024
    /// A vector no longer than this is gathered rather than sent as it is,
    /// so a 4K payload travels in one record with its header (and the
    /// frames around it) instead of a record and a `sendmsg` of its own:
    /// the copy costs a fraction of a microsecond, a record and a system
    /// call several. Measured on replicated 4K writes at iodepth 16 over
    /// `--peer-psk` (A/B, loaded machine): 1 KiB here cost 69-100 CPU µs per
    /// write and half a plain link's IOPS; 8 KiB, 44-59 µs and the same IOPS
    /// as plain. Larger payloads are encrypted straight from the caller's memory.
    static let gatherLengthMaximum = 8 * 1024
    private let gathered = UnsafeMutableRawPointer.allocate(byteCount: gatherCapacity, alignment: 16)

    /// Ciphertext read ahead of GnuTLS's pulls (receiving side only).
    /// GnuTLS pulls a record's 5-byte header, then its body: two `recv`s per
    /// record, and at least two per NBD request. One `recv` of up to
    /// ``readAheadCapacity`` instead serves both, and at iodepth 16 often
    /// the records of several requests, at the price of copying ciphertext
    /// from here into GnuTLS's record buffer: a 4 KiB copy costs a tenth of
    /// a microsecond, a `recv` on loopback a few. A pull of at least
    /// ``directPullMinimum`` bytes with nothing read ahead (the body of a
    /// large record) goes straight into GnuTLS's buffer, uncopied.
    static let readAheadCapacity = 64 * 1024
    static let directPullMinimum = 16 * 1024
    let readAhead = UnsafeMutableRawPointer.allocate(byteCount: readAheadCapacity, alignment: 16)
    /// The unread ciphertext is `readAhead[readAheadStart..<readAheadEnd]`.
    var readAheadStart = 0
    var readAheadEnd = 0
    /// Whether waiting for the peer's next message polls before blocking
    /// (receiving side only), as the plain path's reader decides.
    var pollBudget = PollBudget()

    init(descriptor: Int32, credentials: TLSCredentials) throws(SocketError) {
        var made: gnutls_session_t?
        // GNUTLS_SERVER (1) or GNUTLS_CLIENT (2), | GNUTLS_NO_SIGNAL (1 << 6),
        // spelled out: the header declares the latter both as a macro and an enum case.
        let status = gnutls_init(&made, (credentials.isClient ? 2 : 1) | (1 << 6))
        guard status == GNUTLS_E_SUCCESS, let made else {
            gathered.deallocate()
            throw .records("gnutls_init: \(TLSCredentials.message(status))")
        }
        session = made
        self.descriptor = descriptor
        credentials.configure(session)
        gnutls_transport_set_ptr(session, Unmanaged.passUnretained(self).toOpaque())
        gnutls_transport_set_vec_push_function(session, tlsPush)
        gnutls_transport_set_pull_function(session, tlsPull)
        gnutls_transport_set_pull_timeout_function(session, tlsPullTimeout)
        // The server's handshake watchdog bounds the whole negotiation (a
        // replication link sets a timeout instead: TLSCredentials.handshake).
        gnutls_handshake_set_timeout(session, 0)
    }

    deinit {
        gnutls_deinit(session)
        gathered.deallocate()
        readAhead.deallocate()
    }

    /// Runs this side's handshake on the calling thread.
    func handshake() throws(SocketError) {
        receiveWaiting = false
        while true {
            let status = gnutls_handshake(session)
            if status == GNUTLS_E_SUCCESS { return }
            if gnutls_error_is_fatal(status) != 0 {
                // Tell the peer why (an alert), so its own log says more than "connection closed".
                _ = gnutls_alert_send_appropriate(session, status)
                throw .records("TLS handshake failed: \(TLSCredentials.message(status))")
            }
        }
    }

    /// The protocol, key exchange and cipher, e.g. "(TLS1.3)-(ECDHE-SECP256R1)-(RSA-PSS-RSAE-SHA256)-(AES-256-GCM)".
    public var summary: String {
        guard let text = gnutls_session_get_desc(session) else { return "unknown" }
        defer { free(text) }
        return String(cString: text)
    }

    /// Whether GnuTLS holds decrypted data not yet read, or ciphertext was
    /// read ahead (a `poll` on the socket would see neither).
    public var hasPendingData: Bool { gnutls_record_check_pending(session) > 0 || readAheadEnd > readAheadStart }

    /// The PSK identity the client used, if it used one.
    public var pskUsername: String? {
        gnutls_psk_server_get_username(session).map { String(cString: $0) }
    }

    public func receive(into buffer: UnsafeMutableRawBufferPointer, waiting: Bool) throws(SocketError) -> Int {
        receiveWaiting = waiting
        while true {
            let result = gnutls_record_recv(session, buffer.baseAddress, buffer.count)
            if result >= 0 { return result }
            switch Int32(result) {
            case GNUTLS_E_INTERRUPTED, GNUTLS_E_AGAIN: continue
            // The client closed without close_notify: an end of stream like
            // any other (NBD frames say themselves whether one was cut short).
            case GNUTLS_E_PREMATURE_TERMINATION: return 0
            default: throw .records("TLS receive: \(TLSCredentials.message(Int32(result)))")
            }
        }
    }

    public func send(_ vectors: UnsafePointer<Glibc.iovec>, count: Int, blocking: Bool) throws(SocketError) -> Int {
        sendFlags = Int32(MSG_NOSIGNAL) | (blocking ? 0 : Int32(MSG_DONTWAIT))
        var total = 0
        var index = 0
        while index < count {
            let start: UnsafeRawPointer
            let length: Int
            if vectors[index].iov_len <= Self.gatherLengthMaximum {
                var filled = 0
                while index < count, vectors[index].iov_len <= Self.gatherLengthMaximum,
                    filled + vectors[index].iov_len <= Self.gatherCapacity
                {
                    (gathered + filled).copyMemory(from: vectors[index].iov_base!, byteCount: vectors[index].iov_len)
                    filled += vectors[index].iov_len
                    index += 1
                }
                start = UnsafeRawPointer(gathered)
                length = filled
            } else {
                start = UnsafeRawPointer(vectors[index].iov_base!)
                length = vectors[index].iov_len
                index += 1
            }
            var offset = 0
            while offset < length {
                let result = gnutls_record_send(session, start + offset, length - offset)
                if result > 0 {
                    offset += result
                    total += result
                    continue
                }
                switch Int32(result) {
                case GNUTLS_E_INTERRUPTED: continue
                // A record GnuTLS began stays pending inside it; the next
                // call, starting at `total`, finishes it first and counts it.
                case GNUTLS_E_AGAIN: return total
                default: throw .records("TLS send: \(TLSCredentials.message(Int32(result)))")
                }
            }
            // A retry after GNUTLS_E_AGAIN returns the pending record's
            // length, which may be shorter than what was gathered this time
            // (more messages were queued since): the loop above then sends
            // the rest as a record of its own.
            precondition(offset == length, "GnuTLS took \(offset) bytes of a \(length)-byte piece")
        }
        return total
    }
}

/// GnuTLS's vectored push: one `sendmsg` with the flags the sender chose.
private func tlsPush(_ context: gnutls_transport_ptr_t?, _ vectors: UnsafePointer<giovec_t>?, _ count: Int32) -> Int {
    let layer = Unmanaged<TLSSession>.fromOpaque(context!).takeUnretainedValue()
    var message = msghdr()
    message.msg_iov = UnsafeMutablePointer(mutating: vectors)
    message.msg_iovlen = Int(count)
    let result = sendmsg(layer.descriptor, &message, layer.sendFlags)
    if result < 0 { gnutls_transport_set_errno(layer.session, errno) }
    return result
}

/// GnuTLS's pull: from the ciphertext read ahead if there is some, else
/// one `recv` (polling first when waiting for the client's next request, as
/// the plain path does) into the read-ahead buffer, or straight into
/// GnuTLS's for a large pull (see ``TLSSession/readAhead``).
private func tlsPull(_ context: gnutls_transport_ptr_t?, _ buffer: UnsafeMutableRawPointer?, _ length: Int) -> Int {
    let layer = Unmanaged<TLSSession>.fromOpaque(context!).takeUnretainedValue()
    guard let buffer, length > 0 else { return 0 }
    if layer.readAheadEnd == layer.readAheadStart {
        let direct = length >= TLSSession.directPullMinimum
        let target = direct ? buffer : layer.readAhead
        let capacity = direct ? length : TLSSession.readAheadCapacity
        let result =
            layer.receiveWaiting
            ? Socket(descriptor: layer.descriptor).receive(into: target, count: capacity, polling: &layer.pollBudget)
            : recv(layer.descriptor, target, capacity, 0)
        if result < 0 { gnutls_transport_set_errno(layer.session, errno) }
        if direct || result <= 0 { return result }
        layer.readAheadStart = 0
        layer.readAheadEnd = result
    }
    let count = min(length, layer.readAheadEnd - layer.readAheadStart)
    buffer.copyMemory(from: layer.readAhead + layer.readAheadStart, byteCount: count)
    layer.readAheadStart += count
    return count
}

/// GnuTLS asks this before a pull when it has a timeout to keep.
private func tlsPullTimeout(_ context: gnutls_transport_ptr_t?, _ milliseconds: UInt32) -> Int32 {
    let layer = Unmanaged<TLSSession>.fromOpaque(context!).takeUnretainedValue()
    if layer.readAheadEnd > layer.readAheadStart { return 1 }
    var entry = pollfd(fd: layer.descriptor, events: Int16(POLLIN), revents: 0)
    let timeout = milliseconds == UInt32.max ? -1 : Int32(clamping: milliseconds)
    return poll(&entry, 1, timeout)
}
