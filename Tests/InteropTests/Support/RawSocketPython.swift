/// The opening of a Python script that speaks NBD over a raw Unix socket,
/// run as `python3 -c SCRIPT SOCKET ...`: it imports what such scripts use,
/// connects `sock` to `sys.argv[1]` with a 30 s timeout, and defines
/// `receive(count)`, which returns exactly `count` bytes or raises
/// `EOFError` when the server closes the connection first.
enum RawSocketPython {
    static let prelude = """
        import errno, socket, struct, sys
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(sys.argv[1])
        def receive(count):
            data = b""
            while len(data) < count:
                piece = sock.recv(count - len(data))
                if not piece:
                    raise EOFError("server closed the connection")
                data += piece
            return data
        """

    /// `prelude`, then `body`.
    static func script(_ body: String) -> String { prelude + "\n" + body }
}
