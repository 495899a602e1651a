import Filesystems
import KernelAttach

/// What a volume's service finds at its mount point when it starts.
///
/// A service killed without warning (SIGKILL, the OOM killer, a crash)
/// leaves its volume attached and mounted: the kernel holds the
/// filesystem's I/O for the dead-connection timeout (120 s), waiting for a
/// server, exactly as after a `buse connect` daemon dies. Started again (by
/// systemd's `Restart=`), the service must pick that device up again, as
/// `buse connect --reattach` does, not attach the volume a second time and
/// mount it over the first mount: that stacked a second ext4 mount of the
/// same image over one whose dirty pages and held writes never arrived,
/// and left the first device attached until reboot.
enum MountPointState: Equatable {
    /// Nothing is mounted there: attach, format if asked, mount.
    case free
    /// This volume's own device, mounted there, whose server has died:
    /// reattach it and keep the mount.
    case orphaned(NBDDeviceNode)

    /// Looks at `mountPoint` for a service of the volume `uri`. Throws,
    /// saying what is there, when something else is mounted there, or when
    /// this volume is mounted there and still served (the service is
    /// running already).
    static func inspect(_ mountPoint: String, uri: String) throws -> MountPointState {
        guard let mount = try MountTable.mount(at: mountPoint) else { return .free }
        guard let device = try? NBDDeviceNode(path: mount.source) else {
            throw CommandLineError(
                "--mount \(mountPoint) is already a mount point (\(mount.source), \(mount.filesystemType)); "
                    + "buse mounts a volume only on a directory that is not one")
        }
        let identifier = AttachmentRecord.identifier(uri: uri)
        guard let backend = device.backend else {
            throw CommandLineError(
                "--mount \(mountPoint) is already mounted from \(device), which was not attached over netlink "
                    + "(with --ioctl, or not by buse), so it cannot be reattached: unmount it first")
        }
        guard backend == identifier else {
            throw CommandLineError(
                "--mount \(mountPoint) is already mounted from \(device), attached as \"\(backend)\", not for \(uri)")
        }
        if let server = device.livingServer {
            throw CommandLineError(
                "--mount \(mountPoint) is already mounted from \(device), served by pid \(server): "
                    + "is this volume's service running already?")
        }
        return .orphaned(device)
    }
}
