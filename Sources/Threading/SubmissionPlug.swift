import CSystemShims

/// A thread's plug, as in Linux's block layer: while a thread works through
/// a burst of requests it has already received, small sends it makes to a
/// peer may wait, and leave together when the burst ends (``finish()``).
///
/// Why: on loopback every send runs the receiver's TCP stack and often wakes
/// its thread; a burst of 16 replicated 4 KiB writes sent as one vectored `sendmsg`
/// costs one pass instead of 16, and the replica then reads them with one
/// `recv`.
///
/// A plug belongs to one thread (the one that started it) and is reached
/// through ``current``. A sender that holds something registers itself with
/// ``onFinish(_:)`` and sends what it held in ``Holder/plugFinished()``; the
/// owner must finish the plug before it blocks or waits for anything those
/// sends could be holding up.
///
/// Lifetime rule, enforced with preconditions (the thread-local slot holds
/// the plug unretained, so breaking it would leave a dangling pointer):
/// - one plug per thread at a time: ``start()`` traps if another plug is in;
/// - started and finished on the same thread;
/// - never released while in: the owner finishes it before it goes (a
///   `defer { plug.finish() }` right after making it).
public final class SubmissionPlug {
    /// Something that holds sends while a plug is in, and sends them when it finishes.
    public protocol Holder: AnyObject {
        func plugFinished()
    }

    private var holders: [any Holder] = []
    private var started = false
    /// The thread is serving the first request of a burst (the others were
    /// received with it). A sender whose receiver waits on each message to
    /// send more (a client's replies) lets that one leave at once, so the
    /// receiver works while the rest of the burst is served; one feeding a
    /// peer that answers nothing until it has them all (a replication link's
    /// frames) holds it with the rest (``SocketWriter``'s way 2).
    public private(set) var servesFirstOfBurst = false

    public init() {}

    deinit { precondition(!started, "a SubmissionPlug was released while in: finish() it first") }

    private var slot: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// The plug started on this thread, if any.
    public static var current: SubmissionPlug? {
        guard let pointer = buse_current_plug() else { return nil }
        return Unmanaged<SubmissionPlug>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Whether the plug is in.
    public var isStarted: Bool { started }

    /// Plugs this thread (again, if it was), saying whether the request it
    /// is about to serve is its burst's first. The caller keeps the plug
    /// alive until ``finish()``.
    public func start(firstOfBurst: Bool = false) {
        servesFirstOfBurst = firstOfBurst
        guard !started else { return }
        precondition(buse_current_plug() == nil, "another SubmissionPlug is already in on this thread")
        started = true
        buse_set_current_plug(slot)
    }

    /// Unplugs this thread and tells every registered holder, once each.
    public func finish() {
        guard started else { return }
        precondition(buse_current_plug() == slot, "a SubmissionPlug is finished on the thread that started it")
        started = false
        servesFirstOfBurst = false
        buse_set_current_plug(nil)
        while !holders.isEmpty {
            let due = holders
            holders.removeAll(keepingCapacity: true)
            for holder in due { holder.plugFinished() }
        }
    }

    /// Asks for `holder.plugFinished()` when the plug finishes; once per holder.
    public func onFinish(_ holder: any Holder) {
        guard !holders.contains(where: { $0 === holder }) else { return }
        holders.append(holder)
    }
}
