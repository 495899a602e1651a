/// A minimal NBD client over a raw socket, for the requests libnbd cannot
/// send at all: unknown command types, FLUSH with an offset or length, and
/// malformed writes whose payload the server must still drain. It
/// negotiates with NBD_OPT_GO only (no structured replies), then prints
/// `name=errno` for each request from the simple reply.
///
/// Run as `python3 -c SCRIPT SOCKET EXPORT`.
enum RawRequestScript {
    static let python = RawSocketPython.script(
        """
        magic, option_magic, _ = struct.unpack(">QQH", receive(18))
        assert magic == 0x4e42444d41474943 and option_magic == 0x49484156454f5054
        sock.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
        name = sys.argv[2].encode()
        payload = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
        sock.sendall(struct.pack(">QII", 0x49484156454f5054, 7, len(payload)) + payload)  # NBD_OPT_GO
        size = None
        while True:
            _, _, kind, length = struct.unpack(">QIII", receive(20))
            data = receive(length)
            if kind == 3 and struct.unpack(">H", data[:2])[0] == 0:  # NBD_REP_INFO, NBD_INFO_EXPORT
                size = struct.unpack(">Q", data[2:10])[0]
            if kind == 1:  # NBD_REP_ACK
                break
            assert kind < 0x80000000, f"NBD_OPT_GO failed with reply type {kind:#x}"
        cookie = 0
        def request(label, kind, offset=0, length=0, flags=0, payload=b"", reply_data=0):
            global cookie
            cookie += 1
            sock.sendall(struct.pack(">IHHQQI", 0x25609513, flags, kind, cookie, offset, length) + payload)
            try:
                magic, error, handle = struct.unpack(">IIQ", receive(16))
            except (EOFError, OSError) as e:
                print(f"{label}=connection lost ({e})", flush=True)
                sys.exit(0)
            assert magic == 0x67446698 and handle == cookie, "reply out of step"
            if error == 0 and reply_data:
                receive(reply_data)
            print(f"{label}={errno.errorcode.get(error, error) if error else 'ok'}", flush=True)
        request("unknown command 9", 9, 0, 512)
        request("unknown command 100", 100)
        request("unknown command 65535 with flags", 65535, 0, 0, 1)
        request("flush with an offset", 3, 4096, 0)
        request("flush with a length", 3, 0, 512)
        request("block status without structured replies", 7, 0, 512)
        request("read with DF without structured replies", 0, 0, 512, 4)
        request("write with an unknown flag, payload drained", 1, 0, 512, 1 << 8, b"\\x01" * 512)
        request("write past the end, payload drained", 1, size, 4096, 0, b"\\x02" * 4096)
        request("write with NO_HOLE, payload drained", 1, 0, 512, 2, b"\\x03" * 512)
        request("read still in step", 0, 0, 512, 0, b"", 512)
        request("write in step", 1, 0, 512, 0, b"\\x04" * 512)
        request("flush", 3)
        sock.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 0, 0, 0))  # NBD_CMD_DISC
        print("disconnect=ok", flush=True)
        """)
}
