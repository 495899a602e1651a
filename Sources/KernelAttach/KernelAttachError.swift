import Glibc

/// Why attaching, reattaching or detaching a kernel nbd device failed; each
/// case says what the operator can do about it.
public enum KernelAttachError: Error, CustomStringConvertible {
    case moduleNotLoaded
    case notRoot(String)
    case deviceBusy(String, holder: String)
    case noFreeDevice
    case badDevicePath(String)
    case sizeNotMultiple(size: UInt64, blockSize: UInt32)
    case notOurs(String)
    case notAttached(String)
    case system(String, Int32)

    public var description: String {
        switch self {
        case .moduleNotLoaded:
            "the nbd kernel module is not loaded: run `modprobe nbd` (as root) and try again"
        case let .notRoot(what):
            "\(what) needs root (CAP_SYS_ADMIN): run it with sudo"
        case let .deviceBusy(device, holder):
            "\(device) is busy: it is in use by \(holder); pick another with --nbd or detach it first"
        case .noFreeDevice:
            "every /dev/nbd* device is in use; detach one, or load more with `modprobe nbd nbds_max=N`"
        case let .badDevicePath(path):
            "\(path) is not an nbd device path; expected /dev/nbdN"
        case let .sizeNotMultiple(size, blockSize):
            "the device size \(size) is not a multiple of the block size \(blockSize); choose a size that is, or another --block-size"
        case let .notOurs(device):
            "\(device) was not attached by buse; buse never touches devices it did not attach (use nbd-client -d for those)"
        case let .notAttached(device):
            "\(device) is not attached"
        case let .system(call, code):
            "\(call): \(String(cString: strerror(code)))"
        }
    }
}
