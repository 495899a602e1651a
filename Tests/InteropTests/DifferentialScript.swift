/// The request sequence the differential test sends to buse and to nbdkit.
/// Each step prints `name=outcome` (the data's digest, "ok", or the errno
/// name), so the two transcripts can be compared line by line.
///
/// Not sent, because the reference cannot take them: NBD_CMD_FLAG_FAST_ZERO
/// (nbdkit 1.32's file plugin does not advertise it, and nbdkit aborts on
/// an assertion in backend_zero when it arrives anyway), and unknown command
/// types and FLUSH with a nonzero offset (libnbd has no call that sends them).
enum DifferentialScript {
    static let writable = """
        import random
        h.set_strict_mode(0)
        size = h.get_size()
        rng = random.Random(2024)
        ignore = lambda *args: 0
        def extents(length, offset, flags=0):
            # The spec lets the last extent run past the request; clip it, so
            # servers that clip and servers that do not compare equal.
            found = []
            def clip(context, at, entries, error):
                entries, kept, total = list(entries), [], 0
                for i in range(0, len(entries), 2):
                    piece = min(entries[i], length - total)
                    if piece > 0:
                        kept += [piece, entries[i + 1]]
                        total += piece
                found.append((context, at, kept))
                return 0
            h.block_status(length, offset, clip, flags)
            return found
        def chunks(length, offset, flags=0):
            found = []
            def chunk(data, at, status, error):
                found.append((at, len(data), status))
                return 0
            data = h.pread_structured(length, offset, chunk, flags)
            return (digest(data), found)
        def show(name, fn):
            try:
                report(name, "ok " + repr(fn()))
            except nbd.Error as e:
                report(name, _errno.errorcode.get(e.errno, str(e.errno)))

        # Valid requests, each followed by a read of what it changed.
        step("read the start", lambda: h.pread(65536, 0))
        step("write 64 KiB", lambda: h.pwrite(rng.randbytes(65536), 131072))
        step("write with FUA, unaligned", lambda: h.pwrite(rng.randbytes(5000), 300000, nbd.CMD_FLAG_FUA))
        step("read the writes back", lambda: h.pread(262144, 131072))
        step("flush", lambda: h.flush())
        step("flush with FUA", lambda: h.flush(nbd.CMD_FLAG_FUA))
        step("trim 64 KiB", lambda: h.trim(65536, 524288))
        step("trim with FUA, unaligned", lambda: h.trim(10000, 700001, nbd.CMD_FLAG_FUA))
        step("zero (may trim)", lambda: h.zero(65536, 1048576))
        step("zero with NO_HOLE", lambda: h.zero(65536, 1179648, nbd.CMD_FLAG_NO_HOLE))
        step("zero with FUA, unaligned", lambda: h.zero(3000, 1300001, nbd.CMD_FLAG_FUA))
        step("read the zeros back", lambda: h.pread(327680, 1048576))
        step("cache", lambda: h.cache(1048576, 0))
        step("read with FUA (ignored)", lambda: h.pread(4096, 0, nbd.CMD_FLAG_FUA))
        show("read with DF", lambda: chunks(65536, 131072, nbd.CMD_FLAG_DF))
        show("block status of the zeroed area", lambda: extents(131072, 1048576))
        show("block status with REQ_ONE", lambda: extents(size, 0, nbd.CMD_FLAG_REQ_ONE))
        step("write the last byte", lambda: h.pwrite(b"\\x5a", size - 1))
        step("read the last byte", lambda: h.pread(1, size - 1))

        # Out of range.
        step("read past the end", lambda: h.pread(4096, size - 512))
        step("read starting at the end", lambda: h.pread(512, size))
        step("read whose end overflows", lambda: h.pread(4096, 2**64 - 1024))
        step("write past the end", lambda: h.pwrite(bytes(4096), size - 512))
        step("write starting past the end", lambda: h.pwrite(bytes(512), size + 4096))
        step("write whose end overflows", lambda: h.pwrite(bytes(4096), 2**64 - 1024))
        step("trim past the end", lambda: h.trim(4096, size - 512))
        step("zero past the end", lambda: h.zero(4096, size - 512))
        step("zero with NO_HOLE past the end", lambda: h.zero(4096, size - 512, nbd.CMD_FLAG_NO_HOLE))
        step("cache past the end", lambda: h.cache(4096, size - 512))
        step("block status past the end", lambda: h.block_status(4096, size - 512, ignore))

        # Flags on commands they do not apply to, and unknown flags.
        step("read with NO_HOLE", lambda: h.pread(512, 0, nbd.CMD_FLAG_NO_HOLE))
        step("read with REQ_ONE", lambda: h.pread(512, 0, nbd.CMD_FLAG_REQ_ONE))
        step("read with an unknown flag", lambda: h.pread(512, 0, 1 << 7))
        step("write with DF", lambda: h.pwrite(bytes(512), 0, nbd.CMD_FLAG_DF))
        step("write with NO_HOLE", lambda: h.pwrite(bytes(512), 0, nbd.CMD_FLAG_NO_HOLE))
        step("write with REQ_ONE", lambda: h.pwrite(bytes(512), 0, nbd.CMD_FLAG_REQ_ONE))
        step("write with an unknown flag", lambda: h.pwrite(bytes(512), 0, 1 << 7))
        step("trim with NO_HOLE", lambda: h.trim(512, 0, nbd.CMD_FLAG_NO_HOLE))
        step("trim with DF", lambda: h.trim(512, 0, nbd.CMD_FLAG_DF))
        step("zero with DF", lambda: h.zero(512, 0, nbd.CMD_FLAG_DF))
        step("zero with REQ_ONE", lambda: h.zero(512, 0, nbd.CMD_FLAG_REQ_ONE))
        step("cache with FUA", lambda: h.cache(512, 0, nbd.CMD_FLAG_FUA))
        step("cache with NO_HOLE", lambda: h.cache(512, 0, nbd.CMD_FLAG_NO_HOLE))
        step("block status with DF", lambda: h.block_status(512, 0, ignore, nbd.CMD_FLAG_DF))
        step("block status with FUA", lambda: h.block_status(512, 0, ignore, nbd.CMD_FLAG_FUA))
        step("flush with NO_HOLE", lambda: h.flush(nbd.CMD_FLAG_NO_HOLE))
        step("flush with REQ_ONE", lambda: h.flush(nbd.CMD_FLAG_REQ_ONE))

        # What the disk holds now, on a new connection.
        check = nbd.NBD()
        step("the whole disk afterwards", lambda: (check.connect_uri(uri), check.pread(size, 0))[1])

        # Zero-length requests, last, each on a new connection: the spec
        # leaves them unspecified, and one that kills the server must not
        # hide the answers to the others.
        def alone(request):
            fresh = nbd.NBD()
            fresh.add_meta_context("base:allocation")
            fresh.connect_uri(uri)
            fresh.set_strict_mode(0)
            return request(fresh)
        step("zero-length trim", lambda: alone(lambda c: c.trim(0, 4096)))
        step("zero-length zero", lambda: alone(lambda c: c.zero(0, 4096)))
        step("zero-length cache", lambda: alone(lambda c: c.cache(0, 4096)))
        step("zero-length block status", lambda: alone(lambda c: c.block_status(0, 4096, ignore)))
        step("zero-length write", lambda: alone(lambda c: c.pwrite(b"", 4096)))
        step("zero-length read", lambda: alone(lambda c: c.pread(0, 4096)))
        """

    static let readOnly = """
        h.set_strict_mode(0)
        size = h.get_size()
        step("read", lambda: h.pread(65536, 0))
        step("write", lambda: h.pwrite(bytes(4096), 0))
        step("write with FUA", lambda: h.pwrite(bytes(4096), 0, nbd.CMD_FLAG_FUA))
        step("write past the end", lambda: h.pwrite(bytes(4096), size))
        step("write with a misused flag", lambda: h.pwrite(bytes(4096), 0, nbd.CMD_FLAG_REQ_ONE))
        step("trim", lambda: h.trim(4096, 0))
        step("trim past the end", lambda: h.trim(4096, size))
        step("zero", lambda: h.zero(4096, 0))
        step("zero with NO_HOLE", lambda: h.zero(4096, 0, nbd.CMD_FLAG_NO_HOLE))
        step("zero past the end", lambda: h.zero(4096, size))
        step("flush", lambda: h.flush())
        step("cache", lambda: h.cache(4096, 0))
        step("read past the end", lambda: h.pread(4096, size))
        step("read afterwards", lambda: h.pread(65536, 0))
        """
}
