import CRados

/// librados, opened on first use rather than linked (shim.h says why).
enum LibRados {
    /// The soname Debian's librados2 installs.
    static let soname = "librados.so.2"

    /// The outcome of opening it, once per process.
    static let opening: Result<buse_rados, RadosError> = {
        let table = UnsafeMutablePointer<buse_rados>.allocate(capacity: 1)
        defer { table.deallocate() }
        if let failure = buse_rados_open(soname, table) {
            return .failure(.libraryUnavailable(soname, String(cString: failure)))
        }
        return .success(table.pointee)
    }()

    /// Opens librados if no call has yet; what `RadosCluster` does before anything else.
    static func open() throws(RadosError) {
        _ = try opening.get()
    }
}

/// librados' entry points, for code that holds a librados handle. Making one
/// takes a `RadosCluster`, whose initializer opened the library, so from such
/// code it is always there.
var librados: buse_rados {
    switch LibRados.opening {
    case .success(let table): table
    case .failure(let error): preconditionFailure("librados called before it was opened: \(error)")
    }
}
