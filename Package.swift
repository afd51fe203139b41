// swift-tools-version:6.0
// Auth service: a TLS binary-RPC authentication server, its schema compiler, clients and tools.
// Layers (dependencies point one way): executables -> AuthService -> AuthCore -> store protocol;
// MariaDBStore and RPCTransport are plugged in at the edges. README.md "Layout" has the module map.
import PackageDescription

/// C system libraries, found through pkg-config, with the Debian package that provides each.
let cTargets: [Target] = [
    .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
    .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
    .systemLibrary(name: "CEpoll"),
    .systemLibrary(name: "CPthread"),
]

/// One fuzzer executable per fuzz target (Fuzz/<name>). scripts/fuzz builds them with
/// `--sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING` (libFuzzer supplies main); a normal
/// build replays the inputs given as arguments.
let fuzzers: [Target] = ["frame", "proto", "jwt", "schema"].map {
    .executableTarget(name: "fuzz-\($0)", dependencies: ["FuzzTargets"], path: "Fuzz/\($0)")
}

let package = Package(
    name: "auth-service",
    products: [
        .executable(name: "authd", targets: ["authd"]),
        .executable(name: "authctl", targets: ["authctl"]),
        .executable(name: "rpcgen", targets: ["rpcgen"]),
        // For packages that call authd (clients/swift/Example shows what they write). Stable surface:
        // the generated messages and `Auth` method descriptors (AuthAPI), `Auth.Client` (AuthClient),
        // `ClientConnection`, `BalancedClient`, `ClientConfiguration`, `TLSConfiguration`
        // (RPCTransport), and RPCCore's `CallOptions`, `RPCError`, `StatusCode`, `Metadata`.
        .library(name: "AuthClient", targets: ["AuthClient", "AuthAPI", "RPCCore"]),
        .library(name: "AuthAPI", targets: ["AuthAPI", "RPCCore"]),
        .library(name: "RPCTransport", targets: ["RPCTransport", "RPCCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: cTargets + [
        // Small shared pieces with no domain and no I/O: the lock type, HOST:PORT and env-file parsing,
        // JSON string escaping, the ASCII check.
        .target(name: "Support"),
        // RPC core: status codes, errors, metadata, protobuf wire codec, method tables. No I/O.
        .target(name: "RPCCore", dependencies: ["Support"]),
        // Metrics without a registry: sharded lock-free counters, the Prometheus/OpenMetrics text
        // writer, the process_* metrics from /proc. No I/O beyond /proc.
        .target(name: "Metrics"),
        // Schema compiler library (parser + Swift/Python emitters), no I/O, and its executable.
        .target(name: "RPCGenKit"),
        .executableTarget(name: "rpcgen", dependencies: [
            "RPCGenKit", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Dispatch: the contract every server transport shares (method table, inline/blocking
        // handlers, the worker pool, deadlines, cancellation, overload, status mapping) and the
        // in-process transport. No sockets, no TLS.
        .target(name: "RPCDispatch", dependencies: [
            "Metrics", "RPCCore", "Support", "CPthread", .product(name: "Logging", package: "swift-log"),
        ]),
        // Transport: framing, compression, TLS on OpenSSL, epoll server, client connection; gRPC
        // over HTTP/2 (nghttp2) on the same connections when ALPN chooses h2.
        .target(name: "RPCTransport", dependencies: [
            "RPCCore", "RPCDispatch", "Support", "COpenSSL", "CZlib", "CEpoll", "CNghttp2", .product(name: "Logging", package: "swift-log"),
        ]),
        // Dev and test TLS material: a private CA and certificates minted through OpenSSL (authd --dev, tests).
        .target(name: "DevCertificates", dependencies: ["COpenSSL"]),
        // Auth domain: users, passwords, tokens, revocation; the store protocol and an in-memory store.
        .target(name: "AuthCore", dependencies: [
            "Metrics", "Support", "COpenSSL", "CSodium", .product(name: "Logging", package: "swift-log"),
        ], resources: [.copy("Resources")]),
        // The store protocol implemented on MariaDB Connector/C.
        .target(name: "MariaDBStore", dependencies: ["AuthCore", "CMariaDB"]),
        // Generated from schema/auth.proto: Auth messages, method descriptors, handler protocol and
        // method table (what the server implements); and, for callers, the client `Auth.Client`.
        .target(name: "AuthAPI", dependencies: ["RPCCore"]),
        // Generated from the other schemas in schema/: gRPC health and reflection, Envoy's ext_authz
        // subset and the files it imports (type names carry their package) and every file's descriptor.
        .target(name: "StandardAPI", dependencies: ["RPCCore"]),
        .target(name: "AuthClient", dependencies: ["AuthAPI", "RPCCore", "COpenSSL"], path: "clients/swift/AuthClient"),
        // The Auth service: maps the core onto the generated handler protocol; and the standard
        // services on the same core (gRPC health, server reflection, Envoy's ext_authz).
        .target(name: "AuthService", dependencies: [
            "AuthAPI", "AuthCore", "RPCCore", "StandardAPI", "Support", .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "authd", dependencies: [
            "AuthService", "DevCertificates", "MariaDBStore", "Metrics", "RPCDispatch", "RPCTransport", "Support",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "authctl", dependencies: [
            "AuthAPI", "AuthClient", "RPCCore", "RPCTransport", "Support",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], path: "clients/authctl"),
        // Benchmarks (not tests): validation and the transport, measured and printed; scripts/bench-core runs it.
        .executableTarget(name: "authbench", dependencies: [
            "AuthCore", "DevCertificates", "RPCCore", "RPCTransport", "TestSupport", "COpenSSL",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Benchmarks/authbench"),

        // Shared test helpers: private MariaDB settings, test certificates, temp dirs, processes.
        .target(name: "TestSupport", dependencies: ["AuthCore", "DevCertificates", "RPCTransport", "MariaDBStore", "Support"], path: "Tests/TestSupport"),
        .testTarget(name: "SystemLibrariesTests", dependencies: [
            "COpenSSL", "CMariaDB", "CZlib", "CSodium", "TestSupport",
        ]),
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "RPCCoreTests", dependencies: ["RPCCore"]),
        .testTarget(name: "RPCGenKitTests", dependencies: ["RPCGenKit", "RPCCore", "TestSupport"],
                    resources: [.copy("Golden")]),
        .testTarget(name: "RPCDispatchTests", dependencies: ["Metrics", "RPCDispatch", "RPCCore", "Support"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"]),
        .testTarget(name: "RPCTransportTests", dependencies: ["RPCTransport", "RPCDispatch", "RPCCore", "Support", "TestSupport", "COpenSSL", "CNghttp2"],
                    exclude: ["Schema"]),
        .testTarget(name: "AuthCoreTests", dependencies: ["AuthCore", "MariaDBStore", "RPCCore", "Support", "TestSupport"]),
        // The Auth service through the in-process transport: no sockets, an in-memory store.
        .testTarget(name: "AuthServiceTests", dependencies: [
            "AuthService", "AuthAPI", "AuthClient", "AuthCore", "RPCDispatch", "RPCCore", "StandardAPI", "Support", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "MariaDBStoreTests", dependencies: ["MariaDBStore", "AuthCore", "RPCCore", "Support", "TestSupport"]),
        // Hostile input: the fuzz targets (what scripts/fuzz drives with libFuzzer), replayed over their
        // committed corpus (Fuzz/corpus) in every swift test. AllTypes.rpc.swift there links to the
        // generated test message of RPCGenKitTests.
        .target(name: "FuzzTargets", dependencies: ["RPCTransport", "RPCCore", "AuthCore", "RPCGenKit"], path: "Fuzz/Targets"),
        .testTarget(name: "HardeningTests", dependencies: ["FuzzTargets"]),
        .testTarget(name: "EndToEndTests", dependencies: [
            "AuthAPI", "AuthClient", "AuthCore", "DevCertificates", "Metrics", "RPCTransport", "RPCCore", "TestSupport",
        ]),
        // Runs the built authctl against a real authd (TLS, MariaDB).
        .testTarget(name: "AuthCtlTests", dependencies: ["AuthAPI", "AuthClient", "DevCertificates", "RPCCore", "Support", "TestSupport"]),
    ] + fuzzers,
    swiftLanguageModes: [.v6]
)
