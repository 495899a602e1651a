import Glibc

/// Connected pairs of Unix stream sockets: the kernel gets one end of each,
/// buse serves the other.
struct SocketPairs {
    private(set) var kernelEnds: [Int32] = []
    private(set) var serverEnds: [Int32] = []

    init(count: Int) throws(KernelAttachError) {
        for _ in 0..<count {
            var ends: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
                let code = errno
                closeAll()
                throw .system("socketpair", code)
            }
            kernelEnds.append(ends[0])
            serverEnds.append(ends[1])
        }
    }

    /// After the kernel took its references, our copies of its ends go.
    func closeKernelEnds() { for fd in kernelEnds { close(fd) } }

    func closeAll() { for fd in kernelEnds + serverEnds { close(fd) } }
}
