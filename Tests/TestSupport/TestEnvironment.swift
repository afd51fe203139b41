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

    /// The executable `name` that `swift build` made (`.build/debug/<name>`), or the file the
    /// environment variable `override` names (taken as it is). Throws when the built one is missing
    /// or stale (`staleness(of:in:)`), so a test never runs an old binary.
    public static func builtExecutable(_ name: String, override: String,
                                       in directory: URL = packageRoot.appendingPathComponent(".build/debug")) throws -> URL {
        if let path = ProcessInfo.processInfo.environment[override] { return URL(fileURLWithPath: path) }
        let url = directory.appendingPathComponent(name)
        let build = "swift build --product \(name) (scripts/test builds it)"
        guard modificationDate(url) != nil else {
            throw TestSetupError("no \(name) in \(directory.path): run \(build)")
        }
        if let reason = staleness(of: name, in: directory) {
            throw TestSetupError("\(url.path) is stale (\(reason)): run \(build)")
        }
        return url
    }

    /// Why the built executable `name` in `directory` is behind the package's sources, or nil when
    /// it is not (or when there is no build record to tell). The record is swift build's own: the
    /// module folders the product's `Objects.LinkFileList` names, and in each, the sources of its
    /// `output-file-map.json` (and any other `.swift` file beside them: one added since). A module
    /// is behind when one of its sources changed after the module's newest build output (a file
    /// only touched is recompiled to the same bytes and leaves the binary as it is, but still
    /// updates those outputs); the binary is behind when a module's object is newer than it.
    /// Sources of other packages (under a `.build` folder) are left out.
    public static func staleness(of name: String, in directory: URL) -> String? {
        let list = directory.appendingPathComponent("\(name).product/Objects.LinkFileList")
        guard let binary = modificationDate(directory.appendingPathComponent(name)),
              let objects = try? String(contentsOf: list, encoding: .utf8) else { return nil }
        let modules = Set(objects.split(separator: "\n").map { line in
            URL(fileURLWithPath: line.trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))).deletingLastPathComponent()
        })
        let fm = FileManager.default
        func files(in folder: URL) -> [URL] { (try? fm.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? [] }
        for module in modules.sorted(by: { $0.path < $1.path }) {
            let outputs = files(in: module)
            let built = outputs.compactMap(modificationDate).max() ?? .distantPast
            if let object = outputs.first(where: { $0.pathExtension == "o" && (modificationDate($0) ?? .distantPast) > binary }) {
                return "\(object.lastPathComponent) of \(module.lastPathComponent) is newer"
            }
            guard let data = try? Data(contentsOf: module.appendingPathComponent("output-file-map.json")),
                  let map = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            let folders = Set(map.keys.filter { $0.hasSuffix(".swift") && !$0.contains("/.build") }
                .map { URL(fileURLWithPath: $0).deletingLastPathComponent() })
            for folder in folders.sorted(by: { $0.path < $1.path }) {
                for source in files(in: folder) where source.pathExtension == "swift" {
                    if let changed = modificationDate(source), changed > built { return "\(source.path) changed since" }
                }
            }
        }
        return nil
    }

    private static func modificationDate(_ url: URL) -> Date? {
        (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
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
