import ArgumentParser

/// The commands of the services above the volumes, when this buse has them
/// (the `Services` package trait, on by default; `make run` builds without).
enum Services {
    #if Services
        static let commands: [any ParsableCommand.Type] = [Registry.self, Snapshotter.self]
    #else
        static let commands: [any ParsableCommand.Type] = [MissingRegistry.self, MissingSnapshotter.self]
    #endif
}

#if !Services
    /// Says how to get the registry when this buse was built without it.
    struct MissingRegistry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "registry", abstract: "(not in this build) An OCI image registry on a buse volume.")

        @Argument(parsing: .allUnrecognized) var arguments: [String] = []

        func run() throws {
            throw CommandLineError("this buse was built without its services (make run builds the core only): build it with `swift build`")
        }
    }

    /// Says how to get the snapshotter when this buse was built without it.
    struct MissingSnapshotter: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshotter", abstract: "(not in this build) A containerd snapshotter on a buse volume.")

        @Argument(parsing: .allUnrecognized) var arguments: [String] = []

        func run() throws {
            throw CommandLineError("this buse was built without its services (make run builds the core only): build it with `swift build`")
        }
    }
#endif
