import CSystemShims

/// Marks the time a thread spends inside a C library's callback (librados'
/// completion callbacks), where that library must not be shut down: its
/// shutdown joins its own threads, this one among them ("Resource deadlock
/// avoided", then `std::terminate`). A Swift object whose last reference
/// goes in such a callback, and whose deinit would shut the library down,
/// shuts it down through ``outside(named:_:)``, which hands it to another
/// thread there.
public enum LibraryCallback {
    /// Runs `body` as part of a library callback. Everything `body` releases
    /// is released inside the mark (keep the callback's work in `body`, not
    /// in locals of the caller).
    public static func running(_ body: () -> Void) {
        let outer = buse_in_library_callback()
        buse_set_in_library_callback(1)
        body()
        buse_set_in_library_callback(outer)
    }

    /// Whether this thread is inside a library callback now.
    static var isRunning: Bool { buse_in_library_callback() != 0 }

    /// Runs `work` (a library's shutdown) here, or, inside one of the
    /// library's callbacks, on a thread of its own named `name`.
    public static func outside(named name: String, _ work: @escaping @Sendable () -> Void) {
        if isRunning { SystemThread.start(named: name, work) } else { work() }
    }
}
