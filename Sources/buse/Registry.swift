#if Services
    import ArgumentParser

    /// `buse registry`: an OCI image registry whose storage is a directory,
    /// in production a filesystem on a buse volume.
    struct Registry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve an OCI/Docker image registry from a directory.",
            discussion: """
                The registry speaks the OCI distribution spec v1.1 (docker, podman, skopeo, \
                oras, containerd) and stores images in docker-registry's on-disk layout, so \
                either server can take over a directory from the other. Everything a request \
                changes is on disk (fsync) before it is answered: put the directory on a \
                filesystem on a buse volume and replicate the volume.
                """,
            subcommands: [RegistryServe.self, RegistryGC.self, RegistryFsck.self])
    }
#endif
