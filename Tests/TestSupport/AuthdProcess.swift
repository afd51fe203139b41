import DevCertificates
import Foundation
import MariaDBStore
import RPCTransport

/// A real `authd` for end-to-end tests: the built binary (`.build/debug/authd`, refused when older
/// than the sources; or `AUTHD_BINARY`),
/// listening on 127.0.0.1 with a port the kernel chose, TLS material and a token secret made for
/// this run, and its own fresh database on the private MariaDB (`auth_test_<random>`, dropped by
/// `stop()` unless `keepDatabase`). Its log (stderr) goes to `logFile`.
///
/// ```swift
/// let authd = try AuthdProcess.start(arguments: ["--access-ttl", "2"])
/// defer { authd.stop() }
/// let client = Auth.Client(transport: try authd.connect())
/// ```
public final class AuthdProcess: @unchecked Sendable {
    // @unchecked: the mutable `process` is only touched by the test thread that owns this object.
    public let directory: URL
    public let host = "127.0.0.1"
    public private(set) var port: Int
    public let caFile: String
    public let secret: String
    public let secretFile: String
    public let databaseName: String
    public let database: DatabaseSettings
    public let logFile: String
    public let arguments: [String]
    public var keepDatabase = false
    private var process: Process

    /// Starts authd and waits (up to `timeout`) until it listens.
    /// - Parameters:
    ///   - database: another MariaDB server (a `PrivateMariaDB`) instead of the shared private one;
    ///     its `database` is the name used when `databaseName` is nil.
    ///   - createDatabase: create the database first (false when the server is not up yet: authd
    ///     then waits for it, see `--db-wait`, and the caller creates the database).
    ///   - secret: the token secret (another instance's `secret`, so both verify each other's
    ///     tokens); a new random one when nil.
    public static func start(arguments: [String] = [], environment: [String: String] = [:],
                             databaseName: String? = nil, database server: DatabaseSettings? = nil,
                             createDatabase: Bool = true, secret sharedSecret: String? = nil,
                             timeout: TimeInterval = 30) throws -> AuthdProcess {
        let directory = try TestEnvironment.makeTemporaryDirectory("authd")
        let ca = try CertificateFactory.makeAuthority(commonName: "authd test CA")
        let leaf = try CertificateFactory.makeLeaf(commonName: "authd test server",
                                                   subjectAltNames: ["DNS:localhost", "IP:127.0.0.1"], authority: ca)
        let caFile = directory.appendingPathComponent("ca.pem").path
        let certFile = directory.appendingPathComponent("server.pem").path
        let keyFile = directory.appendingPathComponent("server.key").path
        let secretFile = directory.appendingPathComponent("jwt.secret").path
        try CertificateFactory.write(ca.certificatePEM, to: caFile, mode: 0o644)
        try CertificateFactory.write(leaf.certificatePEM, to: certFile, mode: 0o644)
        try CertificateFactory.write(leaf.privateKeyPEM, to: keyFile, mode: 0o600)
        let secret = sharedSecret ?? (0..<48).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        try CertificateFactory.write(secret + "\n", to: secretFile, mode: 0o600)

        var db = try server ?? TestEnvironment.database()
        let name = databaseName ?? (server?.database ?? "auth_test_\(UInt32.random(in: 0...UInt32.max))")
        db.database = name
        if createDatabase { try MariaDBAdministration.createDatabase(name, using: db.configuration) }

        let common = [
            "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile,
            "--jwt-secret-file", secretFile,
            "--argon2-memory-kib", "1024", "--argon2-iterations", "1",
            "--io-threads", "2", "--workers", "4",
            // Tests register many users from 127.0.0.1; a test about the registration limits
            // passes its own (a flag given twice takes the last value).
            "--register-limit-per-address", "100000", "--register-limit-global", "100000",
        ] + databaseArguments(db) + ["--log-level", "debug"]
        let authd = AuthdProcess(directory: directory, caFile: caFile, secret: secret, secretFile: secretFile,
                                 databaseName: name, database: db,
                                 logFile: directory.appendingPathComponent("authd.log").path,
                                 arguments: common + arguments)
        try authd.launch(environment: environment, timeout: timeout)
        return authd
    }

    private init(directory: URL, caFile: String, secret: String, secretFile: String, databaseName: String,
                 database: DatabaseSettings, logFile: String, arguments: [String]) {
        self.directory = directory
        self.caFile = caFile
        self.secret = secret
        self.secretFile = secretFile
        self.databaseName = databaseName
        self.database = database
        self.logFile = logFile
        self.arguments = arguments
        self.port = 0
        self.process = Process()
    }

    /// The flags naming database `settings` (the password travels in `AUTH_DB_PASSWORD`).
    static func databaseArguments(_ settings: DatabaseSettings) -> [String] {
        ["--db-name", settings.database, "--db-user", settings.user]
            + (settings.socket.map { ["--db-socket", $0] }
               ?? ["--db-host", settings.host ?? "127.0.0.1", "--db-port", String(settings.port ?? 3306)])
    }

    /// The flags that point an authd subcommand at this server's database.
    public var databaseArguments: [String] { AuthdProcess.databaseArguments(database) }

    /// Runs `authd <arguments> <database flags>` to completion, e.g. `["admin", "grant", email]` or
    /// `["migrate"]`, with the same database settings as this server.
    @discardableResult
    public func runSubcommand(_ arguments: [String], timeout: TimeInterval = 60) throws -> ProcessResult {
        try AuthdProcess.run(arguments + databaseArguments, environment: ["AUTH_DB_PASSWORD": database.password],
                             timeout: timeout)
    }

    /// Runs the authd binary with `arguments` to completion, with an environment free of the
    /// caller's `AUTH_*` / `AUTHD_*` variables plus `environment`.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:],
                           timeout: TimeInterval = 60) throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTH_") && !$0.key.hasPrefix("AUTHD_") }
        for (k, v) in environment { env[k] = v }
        return try ProcessRunner.run(try checkedBinary(), arguments, environment: env, timeout: timeout)
    }

    /// The path of the authd binary under test (not checked: `checkedBinary()` is).
    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["AUTHD_BINARY"] { return URL(fileURLWithPath: path) }
        return TestEnvironment.packageRoot.appendingPathComponent(".build/debug/authd")
    }

    /// The authd binary under test; throws when it is missing or older than the sources.
    public static func checkedBinary() throws -> URL {
        try TestEnvironment.builtExecutable("authd", override: "AUTHD_BINARY")
    }

    private func launch(environment: [String: String], timeout: TimeInterval) throws {
        let ready = directory.appendingPathComponent("ready").path
        try? FileManager.default.removeItem(atPath: ready)
        let process = Process()
        process.executableURL = try AuthdProcess.checkedBinary()
        var args = arguments + ["--ready-file", ready]
        if port != 0, let i = args.firstIndex(of: "127.0.0.1:0") { args[i] = "127.0.0.1:\(port)" }  // restart on the same port
        process.arguments = args
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTH_") && !$0.key.hasPrefix("AUTHD_") }
        env["AUTH_DB_PASSWORD"] = database.password
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if !FileManager.default.fileExists(atPath: logFile) { _ = FileManager.default.createFile(atPath: logFile, contents: nil) }
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        logHandle.seekToEndOfFile()
        process.standardError = logHandle
        process.standardOutput = logHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        let listening = try waitUntil(timeout: .milliseconds(Int(timeout * 1000)), poll: .milliseconds(50)) {
            if let text = try? String(contentsOfFile: ready, encoding: .utf8), text.hasSuffix("\n"),
               let p = Int(text.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") {
                port = p
                return true
            }
            if !process.isRunning {
                throw TestSetupError("authd exited with status \(process.terminationStatus) at start:\n\(log(tail: 20))")
            }
            return false
        }
        if listening { return }
        process.terminate()
        throw TestSetupError("authd did not listen within \(Int(timeout)) s:\n\(log(tail: 20))")
    }

    /// Starts authd again with the same settings, database and port (after `kill()` or `stop(dropDatabase: false)`).
    public func restart(timeout: TimeInterval = 30) throws {
        try launch(environment: [:], timeout: timeout)
    }

    /// The server's process id (for /proc readings).
    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// A client configuration trusting this server's CA.
    public func clientConfiguration(timeout: Duration = .seconds(10)) -> ClientConfiguration {
        ClientConfiguration(host: host, port: port, tls: .client(trustRootsFile: caFile), defaultTimeout: timeout)
    }

    /// A new client connection to this server.
    public func connect(timeout: Duration = .seconds(10)) throws -> ClientConnection {
        try ClientConnection(configuration: clientConfiguration(timeout: timeout))
    }

    /// SIGTERM and wait for a graceful stop (SIGKILL after `timeout`); drops the database unless
    /// `keepDatabase` or `dropDatabase: false`. Returns the exit status.
    @discardableResult
    public func stop(dropDatabase: Bool = true, timeout: TimeInterval = 20) -> Int32 {
        if process.isRunning {
            process.terminate()
            waitUntil(timeout: .milliseconds(Int(timeout * 1000)), poll: .milliseconds(20)) { !process.isRunning }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        if dropDatabase && !keepDatabase {
            try? MariaDBAdministration.dropDatabase(databaseName, using: database.configuration)
        }
        return process.terminationStatus
    }

    /// SIGKILL, as a crash would (the database is kept).
    public func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Everything authd logged so far.
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// The last `tail` lines of the log.
    public func log(tail: Int) -> String { log.split(separator: "\n").suffix(tail).joined(separator: "\n") }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}

extension DatabaseSettings {
    /// The same settings as a store configuration (short timeouts, a small pool).
    public var configuration: MariaDBConfiguration {
        MariaDBConfiguration(socket: socket, host: host, port: port, user: user, password: password,
                             database: database, poolSize: 2, connectTimeout: 3, readTimeout: 5, writeTimeout: 5)
    }
}
