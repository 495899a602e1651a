import CSystemShims
import Foundation
import TestSupport

/// Seeded random files under a mounted snapshot: a base to commit, then
/// changes over it (create, delete, rename, chmod, a file replaced by a
/// directory, a directory deleted and recreated, hard links, xattrs).
/// Every step is a plain system call through the mount, as a container's
/// processes would make it. `log` says what was done, for failure messages.
struct RandomTree {
    let root: String
    var random: SeededGenerator
    private(set) var log: [String] = []
    private var counter = 0

    init(root: String, seed: UInt64) {
        self.root = root
        random = SeededGenerator(seed: seed)
    }

    /// Every path under the root, relative, parents before children.
    func paths() -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        return (enumerator.allObjects as? [String] ?? []).sorted()
    }

    func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return lstat(root + "/" + path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    func isFile(_ path: String) -> Bool {
        var status = stat()
        return lstat(root + "/" + path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    mutating func freshName() -> String {
        counter += 1
        return "n\(counter)-\(UInt16.random(in: 0...999, using: &random))"
    }

    /// A random directory (the root is "").
    mutating func someDirectory() -> String { ([""] + paths().filter(isDirectory)).randomElement(using: &random)! }

    mutating func join(_ directory: String, _ name: String) -> String { directory.isEmpty ? name : directory + "/" + name }

    mutating func writeFile(_ path: String) {
        let size = [0, 1, 100, 5000, 70000].randomElement(using: &random)!
        let content = Data(random.bytes(size))
        _ = FileManager.default.createFile(atPath: root + "/" + path, contents: content)
        chmod(root + "/" + path, [0o644, 0o600, 0o755, 0o4755].randomElement(using: &random)!)
    }

    /// A base tree: nested directories, files, symbolic links, hard links.
    mutating func populate(entries: Int) {
        for _ in 0..<entries {
            let path = join(someDirectory(), freshName())
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<3: mkdir(root + "/" + path, 0o755)
            case 3: symlink(["/etc/passwd", "../x", "target"].randomElement(using: &random)!, root + "/" + path)
            case 4:
                if let file = paths().filter(isFile).randomElement(using: &random) { link(root + "/" + file, root + "/" + path) }
            default: writeFile(path)
            }
        }
        log.append("populated \(paths().count) paths")
    }

    /// `count` random changes, each logged.
    mutating func change(count: Int) {
        for _ in 0..<count {
            let all = paths()
            guard let target = all.randomElement(using: &random) else { continue }
            let full = root + "/" + target
            switch Int.random(in: 0..<10, using: &random) {
            case 0:
                let path = join(someDirectory(), freshName())
                writeFile(path)
                log.append("create \(path)")
            case 1:
                _ = try? FileManager.default.removeItem(atPath: full)
                log.append("delete \(target)")
            case 2 where isFile(target):
                let destination = join(someDirectory(), freshName())
                let result = rename(full, root + "/" + destination)
                log.append("rename \(target) \(destination): \(result)")
            case 3:
                chmod(full, [0o700, 0o755, 0o1777, 0o2755, 0o640].randomElement(using: &random)!)
                log.append("chmod \(target)")
            case 4 where isFile(target):
                unlink(full)
                mkdir(full, 0o755)
                writeFile(target + "/inside")
                log.append("file to directory \(target)")
            case 5 where isDirectory(target):
                _ = try? FileManager.default.removeItem(atPath: full)
                mkdir(full, 0o750)
                writeFile(target + "/recreated")
                log.append("delete and recreate directory \(target)")
            case 6 where isFile(target):
                let path = join(someDirectory(), freshName())
                link(full, root + "/" + path)
                log.append("hard link \(target) \(path)")
            case 7:
                let result = lsetxattr(full, "user.test", "v\(counter)", 2, 0)
                log.append("xattr \(target): \(result)")
            case 8 where isDirectory(target):
                let path = join(target, freshName())
                mkdir(root + "/" + path, 0o755)
                log.append("mkdir \(path)")
            default:
                let path = join(someDirectory(), freshName())
                writeFile(path)
                log.append("create \(path)")
            }
        }
    }
}
