import Glibc

/// A control-plane error with a sentence a person can act on.
struct CommandLineError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads a small text file (a config file) with plain system calls.
func readTextFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw CommandLineError(String(cString: strerror(errno))) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw CommandLineError(String(cString: strerror(errno)))
        }
        if count == 0 { break }
        bytes += chunk[..<count]
        guard bytes.count <= 1 << 20 else { throw CommandLineError("larger than 1 MiB") }
    }
    return String(decoding: bytes, as: UTF8.self)
}
