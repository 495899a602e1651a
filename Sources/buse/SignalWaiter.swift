import Glibc
import Sockets
import Threading

/// Catches SIGINT and SIGTERM, the signals that ask for a graceful shutdown.
///
/// The handler only writes the signal number to a pipe (write is
/// async-signal-safe), and a thread reading the pipe wakes the waiter. A
/// handler is process-wide, whichever thread the kernel picks, so from the
/// moment ``init()`` returns no termination signal can kill the process or
/// be lost. Create one before serving anything.
final class SignalWaiter: Sendable {
    private let received = ReceivedSignal()

    init() {
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe: \(errno)")
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        SignalPipe.writeEnd = ends[1]
        let readEnd = ends[0]
        let received = received
        SystemThread.start {
            var number: Int32 = 0
            while true {
                let count = read(readEnd, &number, MemoryLayout<Int32>.size)
                if count == MemoryLayout<Int32>.size { received.deliver(number) }
                if count < 0 && errno != EINTR { return }
            }
        }
        for number in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = signalHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(number, &action, nil)
        }
    }

    /// Waits for the first SIGINT or SIGTERM (returns at once if one came already).
    func wait() async -> Int32 { await received.wait() }

    /// Calls `body` on the signal thread at the first SIGINT or SIGTERM (at
    /// once if one came already): for what must not wait for a thread of the
    /// cooperative pool, such as cancelling a copy whose reads block them all.
    func whenSignalled(_ body: @escaping @Sendable (Int32) -> Void) { received.whenDelivered(body) }
}

/// The pipe the handler writes to, set once before the handler is installed.
private enum SignalPipe {
    // Safety: written once before any handler can run, then only read.
    nonisolated(unsafe) static var writeEnd: Int32 = -1
}

private func signalHandler(_ number: Int32) {
    var value = number
    _ = write(SignalPipe.writeEnd, &value, MemoryLayout<Int32>.size)
}

/// The first termination signal, delivered once to whoever waits.
// Safety: the fields are touched only with the pthread mutex held.
private final class ReceivedSignal: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var number: Int32?
    private var waiter: CheckedContinuation<Int32, Never>?
    private var callbacks: [@Sendable (Int32) -> Void] = []

    init() { pthread_mutex_init(mutex, nil) }

    func deliver(_ value: Int32) {
        pthread_mutex_lock(mutex)
        let resume = number == nil ? waiter : nil
        if number == nil { number = value }
        waiter = nil
        let calls = callbacks
        callbacks = []
        pthread_mutex_unlock(mutex)
        resume?.resume(returning: value)
        for call in calls { call(value) }
    }

    func whenDelivered(_ body: @escaping @Sendable (Int32) -> Void) {
        pthread_mutex_lock(mutex)
        let ready = number
        if ready == nil { callbacks.append(body) }
        pthread_mutex_unlock(mutex)
        if let ready { body(ready) }
    }

    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            pthread_mutex_lock(mutex)
            let ready = number
            if ready == nil { waiter = continuation }
            pthread_mutex_unlock(mutex)
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
