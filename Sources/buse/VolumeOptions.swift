import ArgumentParser

/// `--volume DEVICE-URI --mount DIR [--format]`, shared by the services that
/// keep their data on a filesystem made on a buse volume (`buse registry
/// serve`, and the snapshotter): the whole chain of attach, optional format,
/// mount, and on shutdown unmount and detach. The device may be replicated
/// (`--replicate-to`/`--state`, as `buse connect` takes them).
struct VolumeOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A device URI (README.md, \"Device URIs\") to attach to a free /dev/nbdX and mount at --mount. Needs root and the nbd module.",
            valueName: "device-uri"))
    var volume: String?

    @Option(
        help: ArgumentHelp(
            "Where to mount the volume's filesystem (created when missing). Refused if it is a mount point already, "
                + "unless it holds this volume, left mounted by a service that died: that device is then reattached "
                + "and the mount kept.",
            valueName: "dir"))
    var mount: String?

    @Flag(help: "Make ext4 on the volume first; refused unless the device is blank.")
    var format = false

    @Flag(
        help:
            "Attach with the NBD_SET_SOCK/NBD_DO_IT ioctls instead of netlink (netlink's nbd family is unreachable from a network namespace other than the initial one on Linux 6.1)."
    )
    var ioctl = false

    @OptionGroup(title: "Replication of the volume")
    var replication: ReplicationFlags

    /// For a service whose data lives under `--root DIR` or on this volume:
    /// exactly one of the two.
    func validate(alternativeTo root: String?) throws {
        if (root == nil) == (volume == nil) {
            throw ValidationError("give --root DIR, or --volume DEVICE-URI with --mount DIR (not both)")
        }
    }

    func validate() throws {
        if (volume == nil) != (mount == nil) { throw ValidationError("--volume and --mount go together") }
        if volume == nil {
            if format { throw ValidationError("--format makes a filesystem on a --volume: give one") }
            if ioctl { throw ValidationError("--ioctl attaches a --volume: give one") }
            if replication.replicateTo != nil || replication.state != nil {
                throw ValidationError("--replicate-to and --state replicate a --volume: give one")
            }
        }
    }
}
