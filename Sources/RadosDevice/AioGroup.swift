import CRados
import Glibc
import Synchronization
import Threading

/// Bridges librados completions to async/await for an operation made of
/// several object requests issued in parallel (a read or write spanning
/// objects). Each piece gets its own completion; the group resumes its
/// caller once, after the last piece is finished: by its own callback, or,
/// for a plain write, by an earlier callback that found it complete (see
/// `aioCallback`). librados calls a completion only when it is done with the
/// piece's buffer (a read's bytes are in place, a write's were copied at
/// submission, which is why only plain writes may be finished early), so
/// resuming never hands a buffer back while librados still holds it.
final class AioGroup: Sendable {
    private struct State {
        var remaining: Int
        var firstError: Int32 = 0
        /// Unsafe, not checked: the checked one allocates a canary per
        /// request, and `pieceFinished` takes it out under the lock, so it
        /// is resumed exactly once.
        var continuation: UnsafeContinuation<Int32, Never>?
    }

    private let state: Mutex<State>
    /// Instead of a continuation, for a group nobody awaits. A constant,
    /// not in `State`: a closure returned out of the lock's generic body is
    /// re-abstracted, at two allocations per group.
    private let whenDone: (@Sendable (Int32) -> Void)?
    /// Where the group's latency and outcome are counted, once it ends.
    private let operation: RadosOperation
    private let statistics: RadosStatistics
    private let startedAt = RadosStatistics.now()

    private init(
        pieces: Int, _ operation: RadosOperation, _ statistics: RadosStatistics,
        whenDone: (@Sendable (Int32) -> Void)? = nil
    ) {
        state = Mutex(State(remaining: pieces))
        self.whenDone = whenDone
        self.operation = operation
        self.statistics = statistics
    }

    /// Runs `submit` for each piece with a fresh completion; returns 0 or the
    /// first negative errno any piece reported. The whole group counts as
    /// one `operation` in `statistics` (nothing, when there are no pieces).
    static func run(
        _ pieces: [AioPiece], on pool: RadosPool, as operation: RadosOperation, countedIn statistics: RadosStatistics,
        submit: (AioPiece, rados_completion_t) -> Int32
    ) async -> Int32 {
        guard !pieces.isEmpty else { return 0 }
        let group = AioGroup(pieces: pieces.count, operation, statistics)
        return await withUnsafeContinuation { continuation in
            group.state.withLock { $0.continuation = continuation }
            group.submit(pieces, pool.neighbours, submit)
        }
    }

    /// Like ``run(_:on:as:countedIn:submit:)`` without waiting: `whenDone` gets the result on
    /// librados' callback thread (or here, if nothing could be submitted).
    static func start(
        _ pieces: [AioPiece], on pool: RadosPool, as operation: RadosOperation, countedIn statistics: RadosStatistics,
        submit: (AioPiece, rados_completion_t) -> Int32, whenDone: @escaping @Sendable (Int32) -> Void
    ) {
        guard !pieces.isEmpty else { return whenDone(0) }
        let group = AioGroup(pieces: pieces.count, operation, statistics, whenDone: whenDone)
        group.submit(pieces, pool.neighbours, submit)
    }

    private func submit(
        _ pieces: [AioPiece], _ neighbours: AioNeighbours, _ submit: (AioPiece, rados_completion_t) -> Int32
    ) {
        for piece in pieces {
            piece.group = self
            piece.neighbours = neighbours
            let argument = Unmanaged.passRetained(piece).toOpaque()
            var completion: rados_completion_t?
            var status = librados.aio_create_completion2(argument, aioCallback, &completion)
            if status == 0, let completion {
                // Registered before submission: the callback may run before it returns.
                neighbours.add(piece, completion)
                status = submit(piece, completion)
                if status < 0 {
                    neighbours.remove(piece)
                    librados.aio_release(completion)
                }
            }
            if status < 0 {
                // Never submitted: no callback will come, so finish it here.
                Unmanaged<AioPiece>.fromOpaque(argument).release()
                piece.finish(status)
            }
        }
    }

    func pieceFinished(_ error: Int32) {
        let outcome: (UnsafeContinuation<Int32, Never>?, Int32)? = state.withLock { state in
            if error < 0 && state.firstError == 0 { state.firstError = error }
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            defer { state.continuation = nil }
            return (state.continuation, state.firstError)
        }
        guard let (continuation, firstError) = outcome else { return }
        // Counted before anyone learns of the end: a client answered after
        // this operation sees it in the next scrape.
        statistics.completed(operation, startedAt: startedAt, status: firstError)
        continuation?.resume(returning: firstError)
        whenDone?(firstError)
    }
}

/// One object request of an ``AioGroup``, with what to do with its result.
// Safety: configured before submission, then touched only by its one callback.
final class AioPiece: @unchecked Sendable {
    enum Kind {
        /// A read into `buffer`: bytes past what the object holds (or all of
        /// them, when the object does not exist) read as zeros.
        case read(UnsafeMutableRawBufferPointer)
        /// A write of `bytes` (copied by librados at submission).
        case write(UnsafeRawBufferPointer)
        /// A request for which a missing object is success (remove, zero).
        case missingIsFine
        case plain
    }

    let object: ObjectName
    let offset: UInt64
    let kind: Kind
    /// Set by whoever finishes the piece: its own callback, or a neighbour's
    /// that found it complete first (see ``AioNeighbours``).
    private let claimed = Atomic<Bool>(false)
    /// A write operation to release once librados is done with it.
    var writeOperation: rados_write_op_t?
    fileprivate(set) var group: AioGroup?
    /// The pool's registry of pieces awaiting their callbacks.
    fileprivate(set) var neighbours: AioNeighbours?

    init(object: ObjectName, offset: UInt64 = 0, kind: Kind = .plain) {
        self.object = object
        self.offset = offset
        self.kind = kind
    }

    /// Only plain writes are finished by a neighbour: librados copied their
    /// bytes at submission and their completion carries a status alone.
    /// Finishing reads and write operations (trim, zero) that way corrupted
    /// memory in the RADOS suites (a completion's mutex found garbage, a
    /// later `stat` failing with EDOM): librados evidently still touches a
    /// read's buffer or an operation's results after the completion reads
    /// as complete and before its callback. They wait for their own.
    var isPlainWrite: Bool {
        if case .write = kind, writeOperation == nil { return true }
        return false
    }

    /// True for the one caller that gets to finish the piece.
    fileprivate func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }

    fileprivate func finish(_ result: Int32) {
        if let writeOperation { librados.release_write_op(writeOperation) }
        var error: Int32 = result < 0 ? result : 0
        switch kind {
        case let .read(buffer):
            if result == -ENOENT {
                buffer.initializeMemory(as: UInt8.self, repeating: 0)
                error = 0
            } else if result >= 0 && Int(result) < buffer.count {
                UnsafeMutableRawBufferPointer(rebasing: buffer[Int(result)...]).initializeMemory(as: UInt8.self, repeating: 0)
            }
        case .missingIsFine:
            if result == -ENOENT { error = 0 }
        case .write, .plain:
            break
        }
        group!.pieceFinished(error)
    }
}

/// The C callback librados calls on its own thread when a piece completes.
/// The request waiting for the last piece goes on right here (see
/// CompletionExecutor) instead of waking a pool thread; what it does next
/// never blocks (it sends its reply without blocking, or submits more
/// asynchronous requests).
///
/// Plain writes whose completions are already complete, their callbacks
/// not yet run, are finished here too, under a plug: their replies leave
/// together in one `sendmsg`. Each send on loopback runs the client's TCP
/// stack and wakes it, and the woken client preempts this thread at the
/// system call's exit. Their own callbacks then only release.
///
/// Marked as a library callback throughout (``LibraryCallback``): what it
/// finishes may drop the last reference to a device, its pool and its
/// cluster connection, whose deinit must then not shut librados down here.
private let aioCallback: rados_callback_t = { completion, argument in
    LibraryCallback.running { pieceCompleted(completion!, argument!) }
}

private func pieceCompleted(_ completion: rados_completion_t, _ argument: UnsafeMutableRawPointer) {
    let piece = Unmanaged<AioPiece>.fromOpaque(argument).takeRetainedValue()
    let neighbours = piece.neighbours!
    let result = librados.aio_get_return_value(completion)
    neighbours.remove(piece)
    librados.aio_release(completion)
    guard piece.claim() else { return }  // finished by a neighbour's callback
    // An empty array allocates nothing: the common case stays free.
    var due = neighbours.takeCompleted()
    if due.isEmpty {
        // Alone: no plug to pay for. Others may complete while it runs.
        CompletionExecutor.resumingHere { piece.finish(result) }
        due = neighbours.takeCompleted()
        if due.isEmpty { return }
    } else {
        due.insert((piece, result), at: 0)
    }
    let plug = SubmissionPlug()
    plug.start()
    while !due.isEmpty {
        CompletionExecutor.resumingHere {
            for (piece, status) in due { piece.finish(status) }
        }
        due = neighbours.takeCompleted()
    }
    plug.finish()
}

/// A pool's pieces submitted and not yet called back, with their
/// completions, so that a callback can finish the neighbours librados has
/// already completed. A piece leaves before its completion is released,
/// under the same lock that ``takeCompleted()`` reads completions under: a
/// completion read here is never one already released.
///
/// Per pool, not per process: a callback reads only completions of its own
/// cluster connection, which is alive while that callback runs. And since a
/// request may now end before its pieces' own callbacks have run, the pool
/// waits for them (``waitUntilIdle()``) before it shuts the connection
/// down: librados must never be shut down with callbacks still to come.
final class AioNeighbours: Sendable {
    private struct Entry: @unchecked Sendable {
        let piece: AioPiece
        let completion: rados_completion_t
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    /// How many pieces a neighbour's callback has finished (for tests).
    let finishedByNeighbours = Atomic<Int>(0)

    func add(_ piece: AioPiece, _ completion: rados_completion_t) {
        entries.withLock { $0[ObjectIdentifier(piece)] = Entry(piece: piece, completion: completion) }
    }

    func remove(_ piece: AioPiece) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(piece)) }
    }

    /// Whether `piece` was submitted and not yet called back (for tests).
    func contains(_ piece: AioPiece) -> Bool { entries.withLock { $0[ObjectIdentifier(piece)] != nil } }

    /// Claims every piece whose completion is complete and nobody has
    /// finished yet, with its result.
    func takeCompleted() -> [(AioPiece, Int32)] {
        let completed = entries.withLock { entries in
            var completed: [(AioPiece, Int32)] = []
            for entry in entries.values
            where entry.piece.isPlainWrite && librados.aio_is_complete(entry.completion) != 0 && entry.piece.claim() {
                completed.append((entry.piece, librados.aio_get_return_value(entry.completion)))
            }
            return completed
        }
        if !completed.isEmpty { finishedByNeighbours.add(completed.count, ordering: .relaxed) }
        return completed
    }

    /// Returns once every submitted piece's callback has begun. librados
    /// calls back every submitted operation (with its result, an error, or
    /// a timeout), so this ends; a request that ended through a neighbour
    /// may leave its own callback still queued, and this waits for it.
    /// Never called on a callback thread (the pool closes from its device's
    /// close, after every request has ended).
    func waitUntilIdle() {
        while entries.withLock({ !$0.isEmpty }) { usleep(200) }
    }
}
