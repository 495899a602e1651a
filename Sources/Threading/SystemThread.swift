import CSystemShims
import Glibc

/// Starts a detached system thread for work that blocks: a connection's
/// reader and writer, a listener's accept loop, the kernel's NBD_DO_IT, the
/// journal's LMDB writer, the signal pipe's reader.
/// Blocking calls never run on Swift's cooperative pool, which has one thread
/// per core (two here) and would stall every task.
public enum SystemThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// `name` is what `top -H`, `ps -L` and perf show for the thread (at
    /// most 15 bytes are kept). Without it a thread would show its
    /// creator's name, often a cooperative-pool thread's `…default-qos`,
    /// and could not be told apart from the pool.
    public static func start(named name: String = "buse", _ body: @escaping @Sendable () -> Void) {
        let shortName = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        let box = Unmanaged.passRetained(
            Box {
                _ = buse_name_this_thread(shortName)
                body()
            }
        ).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // Connection threads need little stack; 512 KiB keeps many connections cheap.
        pthread_attr_setstacksize(&attributes, 512 * 1024)
        let result = pthread_create(
            &thread, &attributes,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        pthread_attr_destroy(&attributes)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    /// Runs blocking work (a connect and handshake that may wait seconds
    /// for a silent peer, an ioctl, a mount) on a thread of its own and
    /// awaits its result, so no cooperative thread waits with it.
    public static func run<Value: Sendable, Failure: Error>(
        _ body: @escaping @Sendable () throws(Failure) -> Value
    ) async throws(Failure) -> Value {
        let result: Result<Value, Failure> = await withCheckedContinuation { continuation in
            start { continuation.resume(returning: Result(catching: body)) }
        }
        return try result.get()
    }
}
