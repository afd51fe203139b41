// swift-tools-version:6.0
// An outside package that calls authd: what a Swift service writes to depend on this repository.
// A real service names the repository instead of the path:
//   .package(url: "https://example.com/auth-service.git", from: "0.1.0")
import PackageDescription

let package = Package(
    name: "auth-example",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "auth-service", path: "../../.."),
    ],
    targets: [
        .executableTarget(name: "auth-example", dependencies: [
            .product(name: "AuthClient", package: "auth-service"),   // Auth.Client, BalancedClient's use
            .product(name: "AuthAPI", package: "auth-service"),      // the messages (LoginRequest, …)
            .product(name: "RPCTransport", package: "auth-service"), // ClientConnection, TLS, RPCError
        ]),
    ],
    swiftLanguageModes: [.v6]
)
