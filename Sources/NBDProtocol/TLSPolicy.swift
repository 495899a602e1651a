/// Whether a server offers TLS through NBD_OPT_STARTTLS, and insists on it.
/// The protocol document's names for the modes are in the comments.
public enum TLSPolicy: String, Sendable, CaseIterable {
    /// No TLS: STARTTLS is refused with NBD_REP_ERR_POLICY (a server
    /// without TLS configured).
    case off
    /// TLS for clients that ask; plain clients are served too (not a mode
    /// the document recommends: a client that does not insist on TLS can be
    /// downgraded by anyone on the path).
    case on
    /// Every option but STARTTLS and ABORT is refused with
    /// NBD_REP_ERR_TLS_REQD until TLS is up (FORCEDTLS).
    case require
}
