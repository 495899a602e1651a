// swift-tools-version:6.2
// 6.2 is the real minimum: the server uses `Task.immediate`.
//
// buse: a user-space block device service reached through NBD.
//
// Dependencies point inward: BlockDevices (the core protocol) depends on
// nothing; devices and layers depend on it; NBDProtocol has no I/O; NBDServer
// joins protocol and devices to sockets; the `buse` executable joins all.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    // Warnings are errors in CI and `make check` through
    // `-Xswiftc -warnings-as-errors`, not `unsafeFlags` here: a package with
    // unsafe flags cannot be used as a dependency (the BlockDevices library).
]

let package = Package(
    name: "buse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "buse", targets: ["buse"]),
        .library(name: "BlockDevices", targets: ["BlockDevices"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // The core abstraction: what a block device is and promises.
        .target(name: "BlockDevices", swiftSettings: strict),
        // Wrappers that forward by default: emulation, read-only, offset, faults, delay.
        .target(name: "DeviceLayers", dependencies: ["BlockDevices"], swiftSettings: strict),
        // Threads and what runs on them: system threads for blocking work, a
        // mutex with a condition, a queue drained in batches, the submission
        // plug (sends held until a burst ends) and the completion executor
        // (tasks resumed on the thread that completed their wait).
        .target(name: "Threading", dependencies: ["CSystemShims"], swiftSettings: strict),
        // Small typed C shims for calls Swift cannot make directly (ioctl,
        // fallocate, pwritev2 flags) and the thread-locals Threading needs.
        .target(name: "CSystemShims"),
        // CRC-32C with the CPU's crc32 instruction (the log's and verify's checksum).
        .target(name: "CCRC32C"),
        // Devices on this host: sparse memory and a file or block device.
        .target(
            name: "LocalDevices",
            dependencies: ["BlockDevices", "CSystemShims"],
            swiftSettings: strict),
        // librados' C API (no pkg-config file on Debian: linked by the module map).
        .systemLibrary(name: "CRados", path: "Sources/CRados"),
        // A block image striped over RADOS objects.
        .target(
            name: "RadosDevice",
            dependencies: ["BlockDevices", "CRados", "Threading", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // liblmdb, through pkg-config.
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        // The transaction log of replicated volumes, in LMDB.
        .target(name: "Journal", dependencies: ["CLMDB", "CCRC32C", "Threading"], swiftSettings: strict),
        // Synchronous replication to a peer: the primary's layer, the
        // replica's receiver, the wire protocol, generations, resync, verify.
        .target(
            name: "Replication",
            dependencies: [
                "BlockDevices", "DeviceLayers", "Journal", "Sockets", "Threading",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Device URIs (`file:/path?size=1G`, `memory:1G`) and how to open them.
        .target(
            name: "DeviceCatalog",
            dependencies: ["BlockDevices", "DeviceLayers", "LocalDevices", "RadosDevice"],
            swiftSettings: strict),
        // Stream sockets, listeners, the read-ahead buffer and the page-aligned
        // buffer pool: what the NBD server and the replication link share.
        .target(name: "Sockets", dependencies: ["Threading"], swiftSettings: strict),
        // The NBD wire protocol as codecs and state machines, with no I/O.
        .target(name: "NBDProtocol", swiftSettings: strict),
        // Sockets, connections and exports: joins NBDProtocol to devices.
        .target(
            name: "NBDServer",
            dependencies: [
                "BlockDevices", "DeviceLayers", "NBDProtocol", "CSystemShims", "Sockets", "Threading",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The Linux nbd driver's ioctls and generic netlink family, in C.
        .target(name: "CNBDKernel"),
        // /dev/nbdX: socketpairs handed to the kernel, served by the engine.
        .target(
            name: "KernelAttach",
            dependencies: [
                "CNBDKernel", "NBDProtocol", "NBDServer", "Sockets", "Threading",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The OCI registry's rules with no I/O: names, digests, routes, ranges, manifests, errors.
        .target(name: "RegistryCore", swiftSettings: strict),
        // The registry's storage on a directory, in distribution's own layout.
        .target(
            name: "RegistryStorage",
            dependencies: ["RegistryCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .executableTarget(
            name: "buse",
            dependencies: [
                "BlockDevices", "DeviceLayers", "DeviceCatalog", "NBDServer", "KernelAttach", "RadosDevice", "Replication", "Journal",
                "Sockets", "Threading",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        // What several test targets share: a seeded generator and patterns,
        // bytes in and out of a device, waiting on a condition with a bound.
        .target(name: "TestSupport", dependencies: ["BlockDevices"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "BlockDevicesTests",
            dependencies: ["BlockDevices", "DeviceLayers", "LocalDevices", "DeviceCatalog", "RadosDevice", "TestSupport"],
            swiftSettings: strict),
        .testTarget(name: "JournalTests", dependencies: ["Journal"], swiftSettings: strict),
        // Wire codecs, pairing decisions, ordering, and the seeded simulation.
        .testTarget(
            name: "ReplicationTests",
            dependencies: [
                "BlockDevices", "Journal", "Replication", "Sockets", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "NBDProtocolTests",
            dependencies: ["NBDProtocol"],
            swiftSettings: strict),
        .testTarget(
            name: "NBDServerTests",
            dependencies: [
                "BlockDevices", "DeviceLayers", "LocalDevices", "NBDProtocol", "NBDServer", "Sockets", "Threading", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "RegistryCoreTests", dependencies: ["RegistryCore"], swiftSettings: strict),
        .testTarget(name: "RegistryStorageTests", dependencies: ["RegistryCore", "RegistryStorage"], swiftSettings: strict),
        // Real clients (nbdinfo, nbdsh, nbdcopy, qemu-img, qemu-io, fio,
        // nbdfuse, nbdkit) against the built `buse` binary.
        .testTarget(name: "InteropTests", dependencies: ["TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
