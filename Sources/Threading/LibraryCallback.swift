import CSystemShims

/// Marks the time a thread spends inside a C library's callback (librados'
/// completion callbacks), where that library must not be shut down: its
/// shutdown joins its own threads, this one among them ("Resource deadlock
/// avoided", then `std::terminate`). A Swift object whose last reference
/// goes in such a callback, and whose deinit would shut the library down,
/// asks ``isRunning`` and hands the shutdown to another thread instead.
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
    public static var isRunning: Bool { buse_in_library_callback() != 0 }
}
