import Glibc

/// Two connected Unix sockets owned by the test, used to notice when
/// something else shuts down a descriptor it does not own.
final class SocketPair: Sendable {
    let ends: (Int32, Int32)

    init() throws(ClientError) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw .system("socketpair", errno)
        }
        ends = (fds[0], fds[1])
    }

    deinit {
        close(ends.0)
        close(ends.1)
    }

    /// Whether a byte written at each end still arrives at the other.
    func stillCarriesData() -> Bool {
        carries(from: ends.0, to: ends.1) && carries(from: ends.1, to: ends.0)
    }

    private func carries(from sender: Int32, to receiver: Int32) -> Bool {
        var byte: UInt8 = 42
        guard send(sender, &byte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) == 1 else { return false }
        byte = 0
        return recv(receiver, &byte, 1, Int32(MSG_DONTWAIT)) == 1 && byte == 42
    }
}
