import Foundation

/// A fresh ext4 in a sparse file of `size` (as `truncate -s` takes it),
/// loop-mounted at `mountPoint` (made here); `cleanup` unmounts it, which
/// also frees the loop device. `mkfsOptions` go to mkfs.ext4 before the file.
func mountScratchExt4(
    size: String, image: String, at mountPoint: String, mkfsOptions: [String] = [],
    in directory: TemporaryDirectory, cleanup: Cleanup
) async throws {
    try await runChecked("truncate", ["-s", size, image], in: directory)
    try await runChecked("mkfs.ext4", ["-q"] + mkfsOptions + [image], in: directory)
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
    try await runChecked("mount", ["-o", "loop", image, mountPoint], in: directory)
    _ = cleanup.add([try Tool.path("umount"), mountPoint])
}
