import Glibc
import Logging
import Threading

/// `buse snapshotter serve --seal`: seals each layer containerd commits,
/// shortly after its Commit, with `buse layers seal --all` in a process of
/// its own. LMDB forbids opening one environment twice in a process, and
/// the child opens the store read-only, as beside any running snapshotter.
///
/// What wakes it: every metadata transaction writes ROOT/metadata/data.mdb
/// (LMDB without MDB_WRITEMAP writes with pwrite, which inotify reports as
/// IN_MODIFY). Changes that come while a seal runs are gathered into the
/// next run, so a burst of commits costs one or two runs, and a Commit is
/// never delayed: containerd's call returns before the layer is sealed.
/// Sealing is idempotent, so a run that finds nothing new does nothing.
enum CommitSealer {
    static func start(root: String, logger: Logger) throws {
        let watch = inotify_init1(Int32(IN_CLOEXEC))
        guard watch >= 0 else { throw CommandLineError("--seal: inotify_init1: \(String(cString: strerror(errno)))") }
        let data = root + "/metadata/data.mdb"
        guard inotify_add_watch(watch, data, UInt32(IN_MODIFY)) >= 0 else {
            let reason = String(cString: strerror(errno))
            close(watch)
            throw CommandLineError("--seal: watch \(data): \(reason)")
        }
        SystemThread.start {
            // Layers committed before this start are sealed too.
            sealAll(root: root, logger: logger)
            var events = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = events.withUnsafeMutableBytes { read(watch, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    logger.error("--seal: reading inotify events failed: \(String(cString: strerror(errno))); sealing stops")
                    return
                }
                sealAll(root: root, logger: logger)
            }
        }
    }

    /// Runs `buse layers seal --all --root ROOT` and waits for it.
    private static func sealAll(root: String, logger: Logger) {
        let arguments = ["buse", "layers", "seal", "--all", "--root", root]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, "/proc/self/exe", nil, nil, &argv, environ)
        guard status == 0 else {
            logger.error("--seal: cannot start buse layers seal: \(String(cString: strerror(status)))")
            return
        }
        var exit: Int32 = 0
        while waitpid(pid, &exit, 0) < 0 && errno == EINTR {}
        if exit != 0 { logger.warning("--seal: buse layers seal --all exited with status \(exit)") }
    }
}
