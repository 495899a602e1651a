import Glibc

/// The process's open-file limit, raised at start from its soft value to
/// its hard one. A service's soft limit is often 1024 (systemd's default,
/// a login shell's too), which is less than `--max-connections` (1024
/// connections, a descriptor each) plus the process's own descriptors: past
/// it `accept` fails with EMFILE and waiting clients are neither served nor
/// refused. The hard limit is what the administrator allows; taking it is
/// what Go's runtime does for every program since 1.19.
enum DescriptorLimit {
    static func raiseToHardLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
