import CSystemShims
import Foundation
import TestSupport

/// Seeded random files under a mounted snapshot: a base to commit, then
/// changes over it (create, delete, rename, chmod, a file replaced by a
/// directory and a directory by a file, a directory deleted and recreated,
/// hard links, xattrs, and what a differ must write and never follow:
/// device nodes and absolute symbolic links, to files and to directories).
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

    /// Every path under the root, relative, parents before children. Never
    /// follows a symbolic link: the tree holds links to `/` and `/etc`.
    func paths() -> [String] {
        var found: [String] = []
        func visit(_ relative: String) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + relative)) ?? []
            for name in names.sorted() {
                let path = relative.isEmpty ? name : relative + "/" + name
                found.append(path)
                if isDirectory(path) { visit(path) }
            }
        }
        visit("")
        return found
    }

    /// Removes `path` and, for a real directory, everything under it; a
    /// symbolic link is removed itself, never what it points to.
    func remove(_ path: String) {
        if isDirectory(path) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + path)) ?? [] {
                remove(path + "/" + name)
            }
            rmdir(root + "/" + path)
        } else {
            unlink(root + "/" + path)
        }
    }

    func isSymbolicLink(_ path: String) -> Bool {
        var status = stat()
        return lstat(root + "/" + path, &status) == 0 && status.st_mode & S_IFMT == S_IFLNK
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
        let content = random.bytes(size)
        // O_CLOEXEC: tests run in parallel, and a child another test spawns
        // while this is open would keep the mount busy (umount: target is busy).
        let descriptor = open(root + "/" + path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        _ = content.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
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
            switch Int.random(in: 0..<13, using: &random) {
            case 0:
                let path = join(someDirectory(), freshName())
                writeFile(path)
                log.append("create \(path)")
            case 10:
                let path = join(someDirectory(), freshName())
                let major: UInt64 = Bool.random(using: &random) ? 1 : 8
                mknod(root + "/" + path, (major == 1 ? S_IFCHR : S_IFBLK) | 0o640, dev_t(major << 8 | 3))
                log.append("device \(path)")
            case 12 where isDirectory(target):
                remove(target)
                writeFile(target)
                log.append("directory to file \(target)")
            case 11:
                let path = join(someDirectory(), freshName())
                symlink(["/", "/etc", "/etc/passwd", "../../../../.."].randomElement(using: &random)!, root + "/" + path)
                log.append("symbolic link \(path)")
            case 1:
                remove(target)
                log.append("delete \(target)")
            case 2 where isFile(target):
                let destination = join(someDirectory(), freshName())
                let result = rename(full, root + "/" + destination)
                log.append("rename \(target) \(destination): \(result)")
            case 3 where !isSymbolicLink(target):
                // chmod follows a symbolic link: never given one.
                chmod(full, [0o700, 0o755, 0o1777, 0o2755, 0o640].randomElement(using: &random)!)
                log.append("chmod \(target)")
            case 4 where isFile(target):
                unlink(full)
                mkdir(full, 0o755)
                writeFile(target + "/inside")
                log.append("file to directory \(target)")
            case 5 where isDirectory(target):
                remove(target)
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
