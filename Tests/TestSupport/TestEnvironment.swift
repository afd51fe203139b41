import Foundation
import Support

/// Where the tests find the project, the private MariaDB and the Python virtualenv.
/// One place for these lookups, shared by every test target.
public enum TestEnvironment {
    /// The package's root folder (found from this file's path).
    public static let packageRoot: URL = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }()

    /// The `.data/` folder of the private services.
    public static var dataDirectory: URL { packageRoot.appendingPathComponent(".data") }

    /// Connection settings of the private MariaDB: from the `AUTH_DB_*` environment variables that
    /// `scripts/mariadb env` prints, or else from `.data/mariadb.env` that `scripts/mariadb start` writes.
    public static func database() throws -> DatabaseSettings {
        var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("AUTH_DB_") || $0.key == "AUTH_TEST_DB_NAME" }
        if values["AUTH_DB_USER"] == nil {
            let file = dataDirectory.appendingPathComponent("mariadb.env")
            guard let text = try? String(contentsOf: file, encoding: .utf8) else {
                throw TestSetupError("the private MariaDB is not set up: run scripts/mariadb start (or scripts/test)")
            }
            values.merge(EnvFile.parse(text)) { _, fromFile in fromFile }
        }
        return DatabaseSettings(
            socket: values["AUTH_DB_SOCKET"],
            host: values["AUTH_DB_HOST"],
            port: values["AUTH_DB_PORT"].flatMap { Int($0) },
            user: values["AUTH_DB_USER"] ?? "auth",
            password: values["AUTH_DB_PASSWORD"] ?? "",
            database: values["AUTH_TEST_DB_NAME"] ?? "auth_test")
    }

    /// The Python interpreter of `.data/venv` (with protobuf, pytest, argon2-cffi, PyJWT), made by scripts/test.
    public static func python() throws -> URL {
        if let p = ProcessInfo.processInfo.environment["VENV_PYTHON"] { return URL(fileURLWithPath: p) }
        let url = dataDirectory.appendingPathComponent("venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestSetupError("no Python virtualenv at .data/venv: run scripts/test once to create it")
        }
        return url
    }

    /// A new empty folder under the system's temporary directory; the caller removes it.
    public static func makeTemporaryDirectory(_ prefix: String = "authtest") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Connection settings of a MariaDB server, as the tests get them.
public struct DatabaseSettings: Sendable {
    public var socket: String?
    public var host: String?
    public var port: Int?
    public var user: String
    public var password: String
    public var database: String
}

/// A test prerequisite that is missing, with what to do about it.
public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
