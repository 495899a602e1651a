import Glibc

/// A control-plane failure talking to the cluster (connect, open, lock,
/// image management), with the librados call and its errno.
public enum RadosError: Error, CustomStringConvertible {
    case call(String, Int32)
    case imageNotFound(pool: String, image: String)
    case imageExists(pool: String, image: String)
    case inUse(image: String, holder: String)
    case badHeader(image: String, String)
    case invalid(String)
    /// librados could not be opened (not installed, or not the library buse expects).
    case libraryUnavailable(String, String)

    public var description: String {
        switch self {
        case let .call(what, code):
            "\(what): \(String(cString: strerror(code)))"
                + (code == ETIMEDOUT ? " (is the cluster up? see `ceph -s`)" : "")
                + (code == ENOENT && what.hasPrefix("open pool") ? " (create it with `ceph osd pool create`)" : "")
        case let .imageNotFound(pool, image):
            "image \(pool)/\(image) does not exist; create it with `buse image create \(pool)/\(image) --size SIZE`"
        case let .imageExists(pool, image):
            "image \(pool)/\(image) already exists"
        case let .inUse(image, holder):
            "image \(image) is in use by \(holder); if that writer is gone (a crash), pass --break-lock (or break-lock in the URI)"
        case let .badHeader(image, why):
            "image \(image) has an unreadable header: \(why)"
        case let .invalid(why):
            why
        case let .libraryUnavailable(library, why):
            "RADOS devices need librados (\(library), Debian package librados2): \(why)"
        }
    }
}
