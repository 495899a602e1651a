/// A Python script that compares two directory trees the way an unpacked
/// image is judged: names, types, modes, owners, extended attributes
/// (overlayfs' own `trusted.overlay.*` ignored), symbolic link targets,
/// device numbers, contents, file times (directory times ignored) and hard
/// link groups (the sets of names sharing an inode).
///
///     python3 SCRIPT EXPECTED-DIR ACTUAL-DIR
///
/// Prints the first differences, path by path, and exits 1; or prints how
/// many paths matched and exits 0.
enum TreeComparisonScript {
    static let source = #"""
        import hashlib, os, stat, sys

        def attributes(full):
            try:
                names = os.listxattr(full, follow_symlinks=False)
            except OSError:
                return {}
            return {n: os.getxattr(full, n, follow_symlinks=False) for n in sorted(names)
                    if not n.startswith('trusted.overlay.')}

        def describe(root):
            tree, inodes = {}, {}
            for directory, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(dirs + files):
                    full = os.path.join(directory, name)
                    path = os.path.relpath(full, root)
                    st = os.lstat(full)
                    kind = stat.S_IFMT(st.st_mode)
                    entry = {'type': stat.filemode(st.st_mode)[0], 'mode': oct(stat.S_IMODE(st.st_mode)),
                             'uid': st.st_uid, 'gid': st.st_gid, 'xattrs': attributes(full)}
                    if not stat.S_ISDIR(kind):
                        entry['mtime'] = int(st.st_mtime)
                    if stat.S_ISREG(kind):
                        with open(full, 'rb') as f:
                            entry['sha256'] = hashlib.sha256(f.read()).hexdigest()
                        entry['size'] = st.st_size
                        if st.st_nlink > 1:
                            inodes.setdefault((st.st_dev, st.st_ino), []).append(path)
                    elif stat.S_ISLNK(kind):
                        entry['target'] = os.readlink(full)
                    elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
                        entry['rdev'] = (os.major(st.st_rdev), os.minor(st.st_rdev))
                    tree[path] = entry
            groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
            return tree, groups

        expected_root, actual_root = sys.argv[1], sys.argv[2]
        expected, expected_groups = describe(expected_root)
        actual, actual_groups = describe(actual_root)
        problems = []
        for path in sorted(set(expected) | set(actual)):
            a, b = expected.get(path), actual.get(path)
            if a is None:
                problems.append('%s: only in %s: %s' % (path, actual_root, b))
            elif b is None:
                problems.append('%s: only in %s: %s' % (path, expected_root, a))
            else:
                for key in sorted(set(a) | set(b)):
                    if a.get(key) != b.get(key):
                        problems.append('%s: %s is %r in %s but %r in %s' % (
                            path, key, a.get(key), expected_root, b.get(key), actual_root))
        if expected_groups != actual_groups:
            problems.append('hard link groups differ: %s has %s, %s has %s' % (
                expected_root, expected_groups, actual_root, actual_groups))
        if problems:
            print('\n'.join(problems[:30]))
            sys.exit(1)
        print('%d paths and %d hard link groups match' % (len(expected), len(expected_groups)))
        """#
}
