import CRados
import Glibc

/// Blocking object calls for the control plane (open, create, resize,
/// remove, list): not for the data path, which is asynchronous.
extension RadosPool {
    func readWhole(_ object: String, limit: Int = 64 << 20) throws(RadosError) -> [UInt8]? {
        var size: UInt64 = 0
        var modified: time_t = 0
        let status = librados.stat(context, object, &size, &modified)
        if status == -ENOENT { return nil }
        guard status == 0 else { throw .call("stat \(object)", -status) }
        guard size <= UInt64(limit) else { throw .invalid("\(object) is \(size) bytes, more than expected") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        let total = bytes.count
        while done < total {
            let count = bytes.withUnsafeMutableBytes { buffer in
                librados.read(context, object, buffer.baseAddress!.assumingMemoryBound(to: CChar.self) + done, total - done, UInt64(done))
            }
            guard count > 0 else {
                if count == 0 { break }
                throw .call("read \(object)", -count)
            }
            done += Int(count)
        }
        return Array(bytes[..<done])
    }

    func writeWhole(_ object: String, _ bytes: [UInt8]) throws(RadosError) {
        let status = bytes.withUnsafeBytes { buffer in
            librados.write_full(context, object, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count)
        }
        guard status == 0 else { throw .call("write \(object)", -status) }
    }

    /// Removes an object; one that is already gone is fine.
    func remove(_ object: String) throws(RadosError) {
        let status = librados.remove(context, object)
        guard status == 0 || status == -ENOENT else { throw .call("remove \(object)", -status) }
    }

    func truncate(_ object: String, to size: UInt64) throws(RadosError) {
        let status = librados.trunc(context, object, size)
        guard status == 0 || status == -ENOENT else { throw .call("truncate \(object)", -status) }
    }

    /// The names of every object whose name starts with `prefix` (a scan of
    /// the pool or namespace: for listing and removal, not the data path).
    func objects(withPrefix prefix: String) throws(RadosError) -> [String] {
        var listing: rados_list_ctx_t?
        let status = librados.nobjects_list_open(context, &listing)
        guard status == 0, let listing else { throw .call("list pool \(name)", -status) }
        defer { librados.nobjects_list_close(listing) }
        var names: [String] = []
        while true {
            var entry: UnsafePointer<CChar>?
            let next = librados.nobjects_list_next(listing, &entry, nil, nil)
            if next == -ENOENT { break }
            guard next == 0, let entry else { throw .call("list pool \(name)", -next) }
            let object = String(cString: entry)
            if object.hasPrefix(prefix) { names.append(object) }
        }
        return names
    }
}
