/// Public access to the server's system threads, for other modules whose
/// work blocks (the kernel attach path's NBD_DO_IT and its connections).
public enum BlockingThread {
    public static func start(_ body: @escaping @Sendable () -> Void) { SystemThread.start(body) }
}

extension Connection {
    /// Runs the connection on its own thread, then calls `ended`.
    public func start(then ended: @escaping @Sendable () -> Void) {
        SystemThread.start { [self] in
            run()
            ended()
        }
    }
}
