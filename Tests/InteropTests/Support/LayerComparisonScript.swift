/// A Python script (the standard library's `tarfile` as an independent tar
/// reader) that checks two layers of the same change against each other:
///
///     python3 SCRIPT PARENT-DIR WALKING.tar FAST.tar
///
/// 1. Applying either layer to the parent (OCI rules: `.wh.NAME` removes
///    NAME, `.wh..wh..opq` the directory's older contents) gives the same
///    tree: names, types, modes, owners, link targets, contents.
/// 2. Every member of the walking differ's layer is in the fast one with
///    the same type and mode, once the fast layer's opaque markers are read
///    as the whiteouts of each name they hide.
/// 3. A member only the fast layer has changes nothing the walking differ
///    compares (a directory or file copied up unchanged but for xattrs).
///
/// Prints what differs and exits 1; prints a summary and, on its second
/// line, how many members of each special kind the fast layer has
/// (`device=N hardlink=N opaque=N symlink=N whiteout=N`), and exits 0.
enum LayerComparisonScript {
    static let source = #"""
        import hashlib, os, stat, sys, tarfile

        def describe_path(full):
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            extra = ''
            if stat.S_ISREG(kind):
                with open(full, 'rb') as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(kind):
                extra = os.readlink(full)
            elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
                extra = '%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
            names = {stat.S_IFDIR: 'dir', stat.S_IFREG: 'file', stat.S_IFLNK: 'symlink', stat.S_IFCHR: 'char',
                     stat.S_IFBLK: 'block', stat.S_IFIFO: 'fifo'}
            return (names.get(kind, 'other'), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, extra)

        def walk(root):
            model = {}
            for directory, dirs, files in os.walk(root):
                for name in dirs + files:
                    full = os.path.join(directory, name)
                    model[os.path.relpath(full, root)] = describe_path(full)
            return model

        def member_kind(m):
            if m.isdir(): return 'dir'
            if m.isreg() or m.islnk(): return 'file'
            if m.issym(): return 'symlink'
            if m.ischr(): return 'char'
            if m.isblk(): return 'block'
            if m.isfifo(): return 'fifo'
            return 'other'

        def clean(name):
            name = name.rstrip('/')
            return name[2:] if name.startswith('./') else name

        def remove(model, path):
            for key in [k for k in model if k == path or k.startswith(path + '/')]:
                del model[key]

        def members(path):
            with tarfile.open(path) as archive:
                result = []
                for m in archive:
                    data = archive.extractfile(m).read() if m.isreg() else b''
                    result.append((m, data))
                return result

        def apply(parent, layer):
            model = dict(parent)
            added = set()
            for m, data in layer:
                name = clean(m.name)
                directory, base = os.path.split(name)
                if base == '.wh..wh..opq':
                    remove_keys = [k for k in model if k.startswith(directory + '/') and k not in added]
                    for key in remove_keys: del model[key]
                    continue
                if base.startswith('.wh.'):
                    remove(model, os.path.join(directory, base[4:]))
                    continue
                old = model.get(name)
                if old is not None and not (old[0] == 'dir' and m.isdir()):
                    remove(model, name)
                if m.islnk():
                    target = model[clean(m.linkname)]
                    model[name] = target
                else:
                    extra = ''
                    if m.isreg(): extra = hashlib.sha256(data).hexdigest()
                    elif m.issym(): extra = m.linkname
                    elif m.ischr() or m.isblk(): extra = '%d,%d' % (m.devmajor, m.devminor)
                    model[name] = (member_kind(m), m.mode & 0o7777, m.uid, m.gid, extra)
                added.add(name)
            return model

        def signature(m):
            name = clean(m.name)
            if os.path.basename(name).startswith('.wh.'):
                return (name, 'whiteout', 0)
            return (name, member_kind(m), m.mode & 0o7777)

        def main():
            parent_dir, walking_path, fast_path = sys.argv[1:4]
            parent = walk(parent_dir)
            walking, fast = members(walking_path), members(fast_path)
            walking_tree, fast_tree = apply(parent, walking), apply(parent, fast)
            problems = []
            for path in sorted(set(walking_tree) | set(fast_tree)):
                a, b = walking_tree.get(path), fast_tree.get(path)
                if a != b:
                    problems.append('applied trees differ at %s: walking %s, fast %s' % (path, a, b))
            fast_signatures = set()
            for m, _ in fast:
                name = clean(m.name)
                directory, base = os.path.split(name)
                if base == '.wh..wh..opq':
                    for key in parent:
                        if os.path.dirname(key) == directory and key not in fast_tree:
                            hidden = os.path.join(directory, '.wh.' + os.path.basename(key))
                            fast_signatures.add((hidden, 'whiteout', 0))
                else:
                    fast_signatures.add(signature(m))
            walking_signatures = set(signature(m) for m, _ in walking)
            for missing in sorted(walking_signatures - fast_signatures):
                problems.append('only the walking differ has %s' % (missing,))
            for extra in sorted(fast_signatures - walking_signatures):
                name, kind, mode = extra
                old, new = parent.get(name), fast_tree.get(name)
                unchanged = old is not None and new is not None and old[:4] == new[:4] and (kind == 'dir' or old == new)
                if not unchanged:
                    problems.append('only the fast differ has %s, which changes %s into %s' % (extra, old, new))
            if problems:
                print('\n'.join(problems[:40]))
                sys.exit(1)
            print('%d walking members, %d fast members, %d paths after applying' % (len(walking), len(fast), len(fast_tree)))
            kinds = {'opaque': 0, 'whiteout': 0, 'hardlink': 0, 'device': 0, 'symlink': 0}
            for m, _ in fast:
                base = os.path.basename(clean(m.name))
                if base == '.wh..wh..opq': kinds['opaque'] += 1
                elif base.startswith('.wh.'): kinds['whiteout'] += 1
                elif m.islnk(): kinds['hardlink'] += 1
                elif m.ischr() or m.isblk(): kinds['device'] += 1
                elif m.issym(): kinds['symlink'] += 1
            print(' '.join('%s=%d' % item for item in sorted(kinds.items())))

        main()
        """#
}
