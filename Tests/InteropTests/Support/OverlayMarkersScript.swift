/// A Python script that lists what overlayfs reads as markers in a layer:
/// whiteouts (0/0 character devices) and `trusted.overlay.*` xattrs (an
/// opaque directory's `trusted.overlay.opaque`), which
/// ``TreeComparisonScript`` leaves out of its comparison.
///
///     python3 SCRIPT DIR    (prints one line per marker, sorted)
enum OverlayMarkersScript {
    static let source = #"""
        import os, stat, sys

        root = sys.argv[1]
        lines = []
        for directory, dirs, files in os.walk(root):
            for name in dirs + files:
                full = os.path.join(directory, name)
                path = os.path.relpath(full, root)
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    lines.append('whiteout %s' % path)
                for attribute in os.listxattr(full, follow_symlinks=False):
                    if attribute.startswith('trusted.overlay.'):
                        value = os.getxattr(full, attribute, follow_symlinks=False)
                        lines.append('xattr %s %s=%r' % (path, attribute, value))
        print('\n'.join(sorted(lines)))
        """#
}
