import Foundation

/// The whole text of a file under /proc (or /sys). Foundation's
/// `String(contentsOfFile:)` and `Data(contentsOf:)` trust the size `stat`
/// gives, which is 0 there, and return the first 4 KiB only: a process's
/// maps, or the mount table of a machine with a few dozen mounts, came back
/// cut. `FileHandle.readToEnd` reads until the kernel says the end.
public func readProcFile(_ path: String) throws -> String {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    return String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
}
