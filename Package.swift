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

/// BlockDevices and every module that depends on it: a nonisolated async
/// function runs on its caller's executor (SE-0461) instead of hopping to
/// the generic one. A request's awaits through the device layers then cost
/// no executor switch; each took the task's status-record lock to find its
/// executor preference (A/B in bench/README.md, "Swift's share"). Only
/// modules that depend on BlockDevices, so that no module built without the
/// setting calls into one built with it: Swift 6.3.1 handed a device a
/// garbage buffer when a caller without it called a device requirement
/// with it (TestSupport's `write(_:at:)`, crashing DeviceCopyTests).
/// Modules outside keep Swift 6's default, which other packages' async
/// protocols (Hummingbird's middleware, gRPC's interceptors) expect.
/// `scripts/check-nonsending-boundary.py` (in `make lint` and the tests) checks the rule.
let blockLayer: [SwiftSetting] = strict + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]

let package = Package(
    name: "buse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "buse", targets: ["buse"]),
        .library(name: "BlockDevices", targets: ["BlockDevices"]),
    ],
    // `make run` builds the core alone: the services pull in Hummingbird,
    // gRPC and BoringSSL (through swift-crypto), which would more than double
    // a first build. Every other build, tests included, has them.
    traits: [
        .trait(name: "Services", description: "buse registry and buse snapshotter"),
        .default(enabledTraits: ["Services"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        // `--metrics`: the registry of metrics and its Prometheus text format
        // (on swift-metrics' CoreMetrics).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // The registry's HTTP server. No traits: their swift-configuration
        // reader and full Foundation are unused here and cost build time.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // The registry's htpasswd logins: Basic credentials and bcrypt.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        // Hummingbird's own NIO, named for the registry's one channel handler
        // (`ExpectContinueHandler`).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        // The snapshotter's gRPC: no build plugin, the generated code is committed.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The core abstraction: what a block device is and promises.
        .target(name: "BlockDevices", swiftSettings: blockLayer),
        // Wrappers that forward by default: emulation, read-only, offset, faults, delay.
        .target(name: "DeviceLayers", dependencies: ["BlockDevices"], swiftSettings: blockLayer),
        // Copying any device onto any other, thin at both ends, chunks in flight.
        .target(name: "DeviceCopy", dependencies: ["BlockDevices"], swiftSettings: blockLayer),
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
            swiftSettings: blockLayer),
        // librados' C API (no pkg-config file on Debian: linked by the module map).
        .systemLibrary(name: "CRados", path: "Sources/CRados"),
        // A block image striped over RADOS objects.
        .target(
            name: "RadosDevice",
            dependencies: ["BlockDevices", "CRados", "Threading", .product(name: "Logging", package: "swift-log")],
            swiftSettings: blockLayer),
        // liblmdb, through pkg-config.
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        // The transaction log of replicated volumes, in LMDB.
        .target(name: "Journal", dependencies: ["CLMDB", "CCRC32C", "Threading"], swiftSettings: strict),
        // Synchronous replication to a peer: the primary's layer, the
        // replica's receiver, the wire protocol, generations, resync, verify.
        .target(
            name: "Replication",
            dependencies: [
                "BlockDevices", "DeviceLayers", "Journal", "Sockets", "Threading", "TLS",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: blockLayer),
        // Device URIs (`file:/path?size=1G`, `memory:1G`) and how to open them.
        .target(
            name: "DeviceCatalog",
            dependencies: ["BlockDevices", "DeviceLayers", "LocalDevices", "RadosDevice"],
            swiftSettings: blockLayer),
        // Stream sockets, listeners, the read-ahead buffer, the page-aligned
        // buffer pool and the batching writer (a sender never blocks on the
        // socket): what the NBD server and the replication link share.
        .target(name: "Sockets", dependencies: ["Threading"], swiftSettings: strict),
        // GnuTLS, through pkg-config: what nbdkit, qemu and libnbd use for NBD
        // over TLS, so certificate directories and PSK files behave alike.
        .systemLibrary(name: "CGnuTLS", path: "Sources/CGnuTLS", pkgConfig: "gnutls", providers: [.apt(["libgnutls28-dev"])]),
        // TLS sessions over a socket (a record layer for Sockets) and the
        // credentials they use: certificate directories and PSK files.
        .target(name: "TLS", dependencies: ["CGnuTLS", "Sockets"], swiftSettings: strict),
        // `--metrics HOST:PORT`: the Prometheus registry, the figures sampled
        // at scrape time (NBD exports) and a GET-only HTTP/1.1 endpoint on
        // Sockets, so the core build needs no HTTP server package.
        .target(
            name: "ServiceMetrics",
            dependencies: [
                "NBDServer", "Replication", "Sockets", "Threading", "BlockDevices", "DeviceLayers", "RadosDevice",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: blockLayer),
        // The NBD wire protocol as codecs and state machines, with no I/O.
        .target(name: "NBDProtocol", swiftSettings: strict),
        // Sockets, connections and exports: joins NBDProtocol to devices.
        .target(
            name: "NBDServer",
            dependencies: [
                "BlockDevices", "DeviceLayers", "NBDProtocol", "CSystemShims", "Sockets", "TLS", "Threading",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: blockLayer),
        // The Linux nbd driver's ioctls and generic netlink family, in C.
        .target(name: "CNBDKernel"),
        // /dev/nbdX: socketpairs handed to the kernel, served by the engine.
        .target(
            name: "KernelAttach",
            dependencies: [
                "CNBDKernel", "NBDProtocol", "NBDServer", "Sockets", "Threading",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: blockLayer),
        // A volume's filesystem: probed, made (only on a blank device) and mounted.
        .target(name: "Filesystems", swiftSettings: strict),
        // The OCI registry's rules with no I/O: names, digests, routes, ranges, manifests, errors.
        .target(name: "RegistryCore", swiftSettings: strict),
        // The registry's storage on a directory, in distribution's own layout.
        .target(
            name: "RegistryStorage",
            dependencies: ["RegistryCore", "Threading", "CSystemShims", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // The registry over HTTP: Hummingbird joined to the core and storage,
        // translating only; storage calls run on its own blocking threads.
        .target(
            name: "RegistryHTTP",
            dependencies: [
                "RegistryCore", "RegistryStorage", "Threading",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                // Blob bodies as file regions (`sendfile`), on the HTTP/1 side of the pipeline.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                // Its HTTP/1 channel, wrapped to insert that handler.
                .product(name: "HummingbirdCore", package: "hummingbird"),
                // HTTPS (swift-nio-ssl) and htpasswd logins.
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // containerd's snapshot service, generated once by
        // scripts/generate-snapshotter-api.sh from containerd 1.6's .proto files.
        .target(
            name: "SnapshotterAPI",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["proto", "README.md"]),
        // The snapshot tree's rules with no I/O: kinds, transitions, List filters, Update paths.
        .target(name: "SnapshotterCore", swiftSettings: strict),
        // Snapshot metadata in LMDB and snapshot directories under the root.
        .target(name: "SnapshotterStorage", dependencies: ["SnapshotterCore", "CLMDB"], swiftSettings: strict),
        // zlib, for gzip-compressed layers.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // OCI layer tars: a pure USTAR/PAX encoder and the overlay upper
        // directory walker that makes a layer in time proportional to the change.
        .target(name: "LayerDiff", dependencies: ["CSystemShims", "CZlib"], swiftSettings: strict),
        // The gRPC service over the storage, on a unix socket: it only translates.
        .target(
            name: "SnapshotterGRPC",
            dependencies: [
                "SnapshotterAPI", "SnapshotterCore", "SnapshotterStorage", "Threading",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Committed layers sealed into read-only EROFS images, and a second
        // host's attach of a sealed chain over NBD, stacked with overlayfs.
        .target(
            name: "SealedLayers",
            dependencies: ["KernelAttach", "NBDProtocol", "SnapshotterCore", "SnapshotterStorage"],
            swiftSettings: blockLayer),
        .executableTarget(
            name: "buse",
            dependencies: [
                "BlockDevices", "DeviceLayers", "DeviceCatalog", "NBDProtocol", "NBDServer", "KernelAttach", "RadosDevice", "Replication",
                "Journal", "Sockets", "TLS", "Threading", "Filesystems", "LayerDiff", "SnapshotterStorage", "ServiceMetrics",
                "SealedLayers", "DeviceCopy",
                .target(name: "RegistryStorage", condition: .when(traits: ["Services"])),
                .target(name: "RegistryCore", condition: .when(traits: ["Services"])),
                .target(name: "RegistryHTTP", condition: .when(traits: ["Services"])),
                .target(name: "SnapshotterGRPC", condition: .when(traits: ["Services"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: blockLayer),
        // What several test targets share: a seeded generator and patterns,
        // bytes in and out of a device, waiting on a condition with a bound.
        .target(name: "TestSupport", dependencies: ["BlockDevices"], path: "Tests/TestSupport", swiftSettings: blockLayer),
        .testTarget(
            name: "BlockDevicesTests",
            dependencies: ["BlockDevices", "DeviceLayers", "LocalDevices", "DeviceCatalog", "RadosDevice", "TestSupport"],
            swiftSettings: blockLayer),
        .testTarget(
            name: "DeviceCopyTests",
            dependencies: ["BlockDevices", "DeviceCopy", "DeviceLayers", "LocalDevices", "TestSupport"],
            swiftSettings: blockLayer),
        .testTarget(name: "JournalTests", dependencies: ["Journal"], swiftSettings: strict),
        // Wire codecs, pairing decisions, ordering, and the seeded simulation.
        .testTarget(
            name: "ReplicationTests",
            dependencies: [
                "BlockDevices", "Journal", "Replication", "Sockets", "TLS", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: blockLayer),
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
            swiftSettings: blockLayer),
        .testTarget(name: "FilesystemsTests", dependencies: ["Filesystems", "TestSupport"], swiftSettings: blockLayer),
        .testTarget(
            name: "ServiceMetricsTests",
            dependencies: [
                "Replication", "ServiceMetrics", "Sockets", "TestSupport", "RadosDevice",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: blockLayer),
        .testTarget(name: "RegistryCoreTests", dependencies: ["RegistryCore"], swiftSettings: strict),
        .testTarget(name: "RegistryStorageTests", dependencies: ["RegistryCore", "RegistryStorage"], swiftSettings: strict),
        // The OCI distribution-spec conformance cases, in process through HummingbirdTesting.
        .testTarget(
            name: "RegistryHTTPTests",
            dependencies: [
                "RegistryCore", "RegistryHTTP", "RegistryStorage", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: blockLayer),
        .testTarget(name: "LayerDiffTests", dependencies: ["CSystemShims", "LayerDiff"], swiftSettings: strict),
        .testTarget(name: "SnapshotterCoreTests", dependencies: ["SnapshotterCore"], swiftSettings: strict),
        .testTarget(name: "SealedLayersTests", dependencies: ["SealedLayers"], swiftSettings: blockLayer),
        .testTarget(
            name: "SnapshotterStorageTests", dependencies: ["SnapshotterCore", "SnapshotterStorage"], swiftSettings: strict),
        .testTarget(
            name: "SnapshotterGRPCTests",
            dependencies: [
                "SnapshotterAPI", "SnapshotterGRPC", "SnapshotterStorage",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Real clients (nbdinfo, nbdsh, nbdcopy, qemu-img, qemu-io, fio,
        // nbdfuse, nbdkit) against the built `buse` binary.
        .testTarget(
            name: "InteropTests",
            // Crypto: the registry crash test checks digests of thousands of blobs.
            dependencies: ["CSystemShims", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["containerd-suite"], swiftSettings: blockLayer),
    ],
    swiftLanguageModes: [.v6]
)
