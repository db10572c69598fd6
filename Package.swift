// swift-tools-version:6.0
// Keyfarm: a render farm for keyframe-directed AI video.
//
// Modules are layered from the pure model upward (see ../shared/DESIGN.md and README's Layout):
//   C shims (CZeroMQ, CLibPQ, CCurl, CPNG, COpenEXR, CEXRCodec)
//   KeyfarmCore (pure: shot lists, planning, prices, request keys, retry and job-state rules)
//   KeyfarmProtocol (pure: the wire messages, generated from proto/, and their framing)
//   KeyfarmDecisions (pure: the dispatcher's and the worker session's state machines, events in, actions out)
//   KeyfarmProcess, KeyfarmPostgres (libpq), KeyfarmStore (schema, SQL), KeyfarmWire (ZeroMQ sockets, CURVE),
//   KeyfarmProviders (HTTP over libcurl, provider adapters), KeyfarmMedia (images, interpolation, stitching)
//   KeyfarmCoordinator, KeyfarmWorker (the reactors), KeyfarmFakeProvider (the test stand-in)
//   KeyfarmHarness (local farms for the demo and chaos runs; shot list files)
//   KeyfarmCommands (the CLI: parsing and presentation)  ->  keyfarm (entry point only).
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]
// The pixel loops (interpolation, resampling, EXR and PNG conversion) run several times slower
// unoptimized, and the tests' workers render real frames with them: optimized in debug builds
// too, which halves the farm tests' CPU (see CHANGELOG). The last -O* flag wins over -Onone.
let optimizedInEveryBuild: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "Keyfarm",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "keyfarm", targets: ["keyfarm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
    ],
    targets: [
        // C libraries, found through pkg-config.
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq",
                       providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        // libpng and the OpenEXR core C library, each behind small C functions that keep
        // libpng's longjmp and OpenEXR's pipeline structs out of Swift.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "COpenEXR", pkgConfig: "OpenEXR",
                       providers: [.apt(["libopenexr-dev"])]),

        // EXR through OpenEXR's C++ library (every compression, DWAB included, tiled and
        // multi-part files, chromaticities) behind a few C functions; the 3.1 core C library
        // (COpenEXR) decodes and encodes neither DWAA nor DWAB. Headers and libraries come
        // through COpenEXR's pkg-config.
        .target(name: "CEXRCodec", dependencies: ["COpenEXR"],
                linkerSettings: [.linkedLibrary("stdc++")]),

        // The shot-list model, validation, planning and pricing: no I/O, no C of its own (request
        // keys hash with swift-crypto).
        .target(name: "KeyfarmCore",
                dependencies: [.product(name: "Yams", package: "Yams"),
                               .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict),
        // Running helper programs (initdb, pg_ctl, ffmpeg) with posix_spawn and captured output.
        .target(name: "KeyfarmProcess", swiftSettings: strict),
        // A small libpq wrapper and the embedded private PostgreSQL cluster.
        .target(name: "KeyfarmPostgres",
                dependencies: ["CLibPQ", "KeyfarmProcess", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // The farm's schema, migrations and every SQL statement.
        .target(name: "KeyfarmStore",
                dependencies: ["KeyfarmCore", "KeyfarmPostgres",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // The wire protocol of proto/: generated messages, framing and version checks, no I/O.
        .target(name: "KeyfarmProtocol",
                dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: strict),
        // The farm's decisions as state machines without I/O: the coordinator's dispatcher
        // (roster, retries, losses, adoption, timeouts, key gating) and the worker's session.
        .target(name: "KeyfarmDecisions",
                dependencies: ["KeyfarmCore", "KeyfarmProtocol",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // A small ZeroMQ wrapper (sockets, multipart messages, polling with raw descriptors,
        // CURVE), re-exporting the protocol's messages.
        .target(name: "KeyfarmWire",
                dependencies: ["KeyfarmCore", "KeyfarmProtocol", "CZeroMQ",
                               .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // The coordinator's reactor: zmq_poll over the ROUTER socket and the libpq socket.
        .target(name: "KeyfarmCoordinator",
                dependencies: ["KeyfarmCore", "KeyfarmDecisions", "KeyfarmWire", "KeyfarmStore", "KeyfarmPostgres",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // HTTP over libcurl for the provider adapters: requests, streamed downloads with
        // SHA-256, provider keys and endpoints, and error classification.
        .target(name: "KeyfarmProviders",
                dependencies: ["KeyfarmCore", "CCurl",
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict),
        // Images and local rendering: PNG and EXR I/O in linear-light float RGB, resizing to a
        // shot's frame, and the motion-compensated in-betweening engine.
        .target(name: "KeyfarmMedia",
                dependencies: ["KeyfarmCore", "KeyfarmProcess", "CPNG", "COpenEXR", "CEXRCodec",
                               .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict + optimizedInEveryBuild),
        // The worker daemon: its reactor, engine threads and sd_notify.
        .target(name: "KeyfarmWorker",
                dependencies: ["KeyfarmDecisions", "KeyfarmCore", "KeyfarmWire", "KeyfarmProviders", "KeyfarmMedia", "KeyfarmProcess",
                               .product(name: "FlyingFox", package: "FlyingFox"),
                               .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // `keyfarm fake-provider`: a real HTTP server on loopback that speaks the providers'
        // published APIs, renders real MP4s with ffmpeg, records requests and injects faults.
        .target(name: "KeyfarmFakeProvider",
                dependencies: ["KeyfarmCore", "KeyfarmProviders", "KeyfarmProcess", "KeyfarmMedia",
                               .product(name: "FlyingFox", package: "FlyingFox"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // Farms on this machine (the demo's and the chaos run's processes, the dispatch
        // benchmark's threads) and shot list files read from disk: what the commands
        // orchestrate, apart from how they talk.
        .target(name: "KeyfarmHarness",
                dependencies: ["KeyfarmCore", "KeyfarmStore", "KeyfarmPostgres", "KeyfarmProcess", "KeyfarmProviders",
                               "KeyfarmFakeProvider", "KeyfarmMedia", "KeyfarmWire", "KeyfarmCoordinator", "KeyfarmWorker",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // Every `keyfarm` subcommand: argument parsing and presentation.
        .target(name: "KeyfarmCommands",
                dependencies: ["KeyfarmCore", "KeyfarmStore", "KeyfarmPostgres", "KeyfarmWire",
                               "KeyfarmCoordinator", "KeyfarmWorker", "KeyfarmFakeProvider", "KeyfarmProviders",
                               "KeyfarmMedia", "KeyfarmProcess", "KeyfarmHarness",
                               .product(name: "ArgumentParser", package: "swift-argument-parser"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .executableTarget(name: "keyfarm", dependencies: ["KeyfarmCommands"],
                          swiftSettings: strict),

        // Test-only: a fresh PostgreSQL database per test, on $KEYFARM_TEST_DATABASE_URL or a throwaway cluster.
        .target(name: "KeyfarmTestSupport",
                dependencies: ["KeyfarmPostgres", "KeyfarmProcess", .product(name: "Logging", package: "swift-log")],
                path: "Tests/KeyfarmTestSupport",
                swiftSettings: strict),

        // Test-only: seeded generators and byte mutations for the fuzz tests (no dependencies).
        .target(name: "KeyfarmFuzzSupport", dependencies: ["KeyfarmCore"], path: "Tests/KeyfarmFuzzSupport", swiftSettings: strict),

        .testTarget(name: "KeyfarmCoreTests", dependencies: ["KeyfarmCore", "KeyfarmFuzzSupport"],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmDecisionsTests", dependencies: ["KeyfarmDecisions", "KeyfarmCore", "KeyfarmProtocol"],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmPostgresTests", dependencies: ["KeyfarmPostgres", "KeyfarmTestSupport",
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmStoreTests",
                    dependencies: ["KeyfarmStore", "KeyfarmPostgres", "KeyfarmCore", "KeyfarmTestSupport",
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmCommandsTests",
                    dependencies: ["KeyfarmCommands", "KeyfarmStore", "KeyfarmPostgres", "KeyfarmTestSupport", "KeyfarmMedia",
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmWireTests",
                    dependencies: ["KeyfarmWire", "KeyfarmFuzzSupport", .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmDispatchTests",
                    dependencies: ["KeyfarmCoordinator", "KeyfarmDecisions", "KeyfarmWorker", "KeyfarmWire", "KeyfarmStore",
                                   "KeyfarmCore", "KeyfarmPostgres", "KeyfarmTestSupport", "KeyfarmCommands",
                                   "KeyfarmFakeProvider", "KeyfarmHarness",
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmMediaTests", dependencies: ["KeyfarmMedia", "KeyfarmTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmWorkerTests", dependencies: ["KeyfarmWorker", "KeyfarmMedia", "KeyfarmWire", "KeyfarmCore",
                                                       "KeyfarmTestSupport", "KeyfarmProcess",
                                                       .product(name: "Crypto", package: "swift-crypto"),
                                                       .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmProvidersTests",
                    dependencies: ["KeyfarmProviders", "KeyfarmProcess", "KeyfarmTestSupport",
                                   .product(name: "FlyingFox", package: "FlyingFox"),
                                   .product(name: "Crypto", package: "swift-crypto"),
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "KeyfarmFakeProviderTests",
                    dependencies: ["KeyfarmFakeProvider", "KeyfarmProviders", "KeyfarmProcess", "KeyfarmTestSupport", "KeyfarmCommands",
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: strict),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CZeroMQ", "CCurl"],
                    swiftSettings: strict),
    ]
)
