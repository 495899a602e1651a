import Threading

extension Connection {
    /// Runs the connection on its own thread, then calls `ended` (the kernel
    /// attach path's connections, which no listener starts).
    public func start(then ended: @escaping @Sendable () -> Void) {
        SystemThread.start(named: "nbd-connection") { [self] in
            run()
            ended()
        }
    }
}
