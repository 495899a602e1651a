/// A Python script that writes an OCI image layout whose layers cover what
/// the layer store must get right, each layer built member by member with
/// the standard library's `tarfile` (PAX format) and GNU tar for sparse files:
///
///     python3 SCRIPT LAYOUT-DIR SCRATCH-DIR    (prints the top chain ID)
///
/// 1. a base: setuid, setgid and sticky modes, uid/gid above 65535 (and
///    past USTAR's 7 octal digits), PAX xattrs, absolute and relative
///    symbolic links, hard links within the layer, a 200-byte name in a
///    path over 255 bytes, a device-less fifo;
/// 2. whiteouts of a file and of a directory, an opaque directory, a file
///    replaced by a directory and a directory by a file, a file re-added
///    with a hard link to it (a name shared across layers);
/// 3. an empty layer;
/// 4. a sparse file (GNU tar --sparse, PAX 1.0 sparse map) and a long name.
///
/// With a third argument `link-to-lower` it writes instead two layers, the
/// second a hard link to a file only the first has; with `hostile OUTSIDE
/// VICTIM`, one layer whose members try to write into the directory OUTSIDE
/// (`..` names, an absolute name, writes through absolute and relative
/// symbolic links), device nodes, and a hard link to the file VICTIM; with
/// `large MIB`, one layer of a single MIB-MiB file.
///
/// The manifest is annotated `io.containerd.image.name` so `ctr images
/// import` names it `docker.io/library/oracle:latest`; its ref is `img`.
enum OracleImageScript {
    static let imageName = "docker.io/library/oracle:latest"

    static let source = #"""
        import hashlib, io, json, os, subprocess, sys, tarfile

        layout, scratch = sys.argv[1], sys.argv[2]
        os.makedirs(layout + '/blobs/sha256', exist_ok=True)
        MTIME = 1700000000

        def put_blob(data):
            digest = hashlib.sha256(data).hexdigest()
            with open('%s/blobs/sha256/%s' % (layout, digest), 'wb') as f:
                f.write(data)
            return 'sha256:' + digest, len(data)

        class Layer:
            def __init__(self):
                self.buffer = io.BytesIO()
                self.tar = tarfile.open(fileobj=self.buffer, mode='w', format=tarfile.PAX_FORMAT)
            def add(self, name, kind, mode=0o644, uid=0, gid=0, data=b'', link='', xattrs=None, major=0, minor=0):
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
                info.devmajor, info.devminor = major, minor
                info.linkname = link
                if xattrs:
                    info.pax_headers = {'SCHILY.xattr.' + k: v for k, v in xattrs.items()}
                if kind == tarfile.REGTYPE:
                    info.size = len(data)
                    self.tar.addfile(info, io.BytesIO(data))
                else:
                    self.tar.addfile(info)
            def dir(self, name, mode=0o755, **kw): self.add(name, tarfile.DIRTYPE, mode, **kw)
            def file(self, name, data, mode=0o644, **kw): self.add(name, tarfile.REGTYPE, mode, data=data, **kw)
            def symlink(self, name, target): self.add(name, tarfile.SYMTYPE, 0o777, link=target)
            # A link's header carries its target's owner and mode, as GNU and Go tar write
            # it: containerd applies them to the shared inode, umoci ignores them.
            def hardlink(self, name, target, mode=0o644, uid=0, gid=0):
                self.add(name, tarfile.LNKTYPE, mode, uid, gid, link=target)
            def whiteout(self, name):
                directory, base = os.path.split(name)
                self.add(os.path.join(directory, '.wh.' + base), tarfile.REGTYPE, 0)
            def bytes(self):
                self.tar.close()
                return self.buffer.getvalue()

        base = Layer()
        for name, mode in [('bin', 0o755), ('etc', 0o755), ('tmp', 0o1777), ('a', 0o755), ('a/sub', 0o700),
                           ('d', 0o755), ('gonedir', 0o755), ('gonedir/inner', 0o755), ('dirToFile', 0o755),
                           ('srv', 0o2775)]:
            base.dir(name, mode)
        base.file('bin/su', b'setuid\n', 0o4755)
        base.file('bin/wall', b'setgid\n', 0o2755)
        base.file('etc/hostname', b'oracle\n')
        base.file('a/f1', b'one\n')
        base.file('a/sub/x', b'x' * 5000, 0o600)
        base.file('d/old1', b'old1\n')
        base.file('d/old2', b'old2\n')
        base.file('gone', b'gone\n')
        base.file('gonedir/inner/y', b'y\n')
        base.file('dirToFile/child', b'child\n')
        base.file('fileToDir', b'file\n')
        base.file('shared', b'first version\n')
        base.file('ids-large', b'ids\n', uid=100000, gid=70000)
        base.file('ids-huge', b'ids\n', uid=3000000, gid=4000000)
        # No empty xattr value: containerd sets it, umoci 0.4.7 drops it.
        base.file('xattrs', b'xattrs\n', xattrs={'user.note': 'a note', 'user.other': 'x' * 300})
        base.dir('srv/attributed', xattrs={'user.dir': 'on a directory'})
        base.symlink('etc/absolute', '/etc/hostname')
        base.symlink('a/relative', '../etc/hostname')
        base.file('a/h1', b'linked\n', 0o640, uid=1000, gid=1000)
        base.hardlink('a/h2', 'a/h1', 0o640, 1000, 1000)
        base.hardlink('a/sub/h3', 'a/h1', 0o640, 1000, 1000)
        long_dir = 'long/' + 'p' * 100
        base.dir('long')
        base.dir(long_dir)
        base.file(long_dir + '/' + 'n' * 200, b'long name\n')
        base.add('etc/fifo', tarfile.FIFOTYPE, 0o600)

        changes = Layer()
        changes.whiteout('gone')
        changes.whiteout('gonedir')
        changes.dir('d')
        changes.add('d/.wh..wh..opq', tarfile.REGTYPE, 0)
        changes.file('d/new', b'new\n')
        changes.dir('fileToDir', 0o750)
        changes.file('fileToDir/child', b'now a directory\n')
        changes.file('dirToFile', b'now a file\n', 0o600)
        changes.file('shared', b'second version\n', 0o644)
        changes.hardlink('shared-link', 'shared')
        changes.dir('var', 0o755)
        changes.dir('var/tmp', 0o1777)
        changes.file('bin/su', b'setuid again\n', 0o4711)

        empty = Layer()

        # A sparse file: 8 MiB with data at 0 and 4 MiB only, through GNU tar.
        sparse_root = scratch + '/sparse-root'
        os.makedirs(sparse_root, exist_ok=True)
        with open(sparse_root + '/sparse', 'wb') as f:
            f.write(b'start')
            f.seek(4 << 20)
            f.write(b'middle')
            f.truncate(8 << 20)
        deep = sparse_root + '/deep/' + '/'.join(['q' * 60] * 4)
        os.makedirs(deep, exist_ok=True)
        with open(deep + '/' + 'm' * 150, 'wb') as f:
            f.write(b'deep and long\n')
        subprocess.check_call(['find', sparse_root, '-exec', 'touch', '-h', '-d', '@%d' % MTIME, '{}', '+'])
        subprocess.check_call(['tar', '--sparse', '--format=pax', '--numeric-owner', '--owner=0', '--group=0',
                               '-C', sparse_root, '-cf', scratch + '/sparse.tar', 'sparse', 'deep'])
        with open(scratch + '/sparse.tar', 'rb') as f:
            sparse = f.read()

        chosen = [base.bytes(), changes.bytes(), empty.bytes(), sparse]
        mode = sys.argv[3] if len(sys.argv) > 3 else ''
        if mode == 'link-to-lower':
            # A layer whose hard link names a file only a lower layer has.
            lower, upper = Layer(), Layer()
            lower.file('target', b'in the lower layer\n')
            upper.hardlink('link', 'target')
            chosen = [lower.bytes(), upper.bytes()]
        elif mode == 'hostile':
            # Members that try to leave the layer's root (each names
            # sys.argv[4], a directory outside it, and sys.argv[5], a file
            # outside it), device nodes, and a hard link to the outside file
            # last (an applier that refuses it stops there).
            outside, victim = sys.argv[4], sys.argv[5]
            hostile = Layer()
            hostile.dir('etc')
            hostile.file('etc/inside', b'inside\n')
            hostile.file('../' * 24 + outside.lstrip('/') + '/dot-dot', b'escaped by ..\n')
            hostile.file(outside + '/absolute', b'escaped by an absolute name\n')
            hostile.symlink('up', outside)
            hostile.file('up/through-absolute-symlink', b'escaped through a symlink\n')
            hostile.symlink('rel', '../' * 24 + outside.lstrip('/'))
            hostile.file('rel/through-relative-symlink', b'escaped through a relative symlink\n')
            hostile.dir('dev')
            hostile.add('dev/null', tarfile.CHRTYPE, 0o666, major=1, minor=3)
            hostile.add('dev/loop9', tarfile.BLKTYPE, 0o660, major=7, minor=9)
            hostile.hardlink('victim-link', victim)
            chosen = [hostile.bytes()]
        elif mode == 'large':
            # One layer of sys.argv[4] MiB in a single file: more than a
            # small volume holds.
            large = Layer()
            path = scratch + '/large'
            with open(path, 'wb') as f:
                block = hashlib.sha256(b'large').digest() * 32768
                for _ in range(int(sys.argv[4])):
                    f.write(block)
            large.tar.add(path, arcname='large')
            chosen = [large.bytes()]
        diff_ids, layers = [], []
        for data in chosen:
            digest, size = put_blob(data)
            diff_ids.append(digest)
            layers.append({'mediaType': 'application/vnd.oci.image.layer.v1.tar', 'digest': digest, 'size': size})
        config = {'architecture': 'amd64', 'os': 'linux', 'config': {},
                  'rootfs': {'type': 'layers', 'diff_ids': diff_ids}}
        config_digest, config_size = put_blob(json.dumps(config).encode())
        manifest = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                    'config': {'mediaType': 'application/vnd.oci.image.config.v1+json',
                               'digest': config_digest, 'size': config_size},
                    'layers': layers}
        manifest_digest, manifest_size = put_blob(json.dumps(manifest).encode())
        index = {'schemaVersion': 2, 'manifests': [{
            'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': manifest_digest,
            'size': manifest_size, 'annotations': {'org.opencontainers.image.ref.name': 'img',
                                                   'io.containerd.image.name': 'docker.io/library/oracle:latest'}}]}
        with open(layout + '/index.json', 'w') as f:
            json.dump(index, f)
        with open(layout + '/oci-layout', 'w') as f:
            json.dump({'imageLayoutVersion': '1.0.0'}, f)

        chain = diff_ids[0]
        for diff_id in diff_ids[1:]:
            chain = 'sha256:' + hashlib.sha256((chain + ' ' + diff_id).encode()).hexdigest()
        print(chain)
        """#
}
