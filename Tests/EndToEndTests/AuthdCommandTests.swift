import AuthAPI
import Foundation
import RPCCore
import RPCTransport
import TestSupport
import XCTest

/// TLS material and a token secret in a temporary folder, for running the authd binary by hand.
struct TestMaterial {
    var directory: URL
    var certificate: String
    var key: String
    var secretFile: String
    var secret: String

    static func make() throws -> TestMaterial {
        let dir = try TestEnvironment.makeTemporaryDirectory("authd-cmd")
        let ca = try CertificateFactory.makeAuthority(commonName: "cmd test CA")
        let leaf = try CertificateFactory.makeLeaf(commonName: "cmd test", subjectAltNames: ["IP:127.0.0.1"], authority: ca)
        let m = TestMaterial(directory: dir, certificate: dir.appendingPathComponent("server.pem").path,
                             key: dir.appendingPathComponent("server.key").path,
                             secretFile: dir.appendingPathComponent("jwt.secret").path,
                             secret: "cmd-secret-\(UUID().uuidString)-\(UUID().uuidString)")
        try CertificateFactory.write(leaf.certificatePEM, to: m.certificate, mode: 0o644)
        try CertificateFactory.write(leaf.privateKeyPEM, to: m.key, mode: 0o600)
        try CertificateFactory.write(m.secret + "\n", to: m.secretFile, mode: 0o600)
        return m
    }

    /// Flags for `authd serve` with this material (no database flags).
    var serveArguments: [String] {
        ["--listen", "127.0.0.1:0", "--tls-cert", certificate, "--tls-key", key, "--jwt-secret-file", secretFile]
    }
}

/// The authd executable itself: bad configuration ends it at once with a clear message and exit
/// status 78 (64 for a malformed command line); `--help`; `migrate`; a port already in use; the
/// JSON log format.
final class AuthdCommandTests: XCTestCase {
    private func expectConfigurationError(_ arguments: [String], environment: [String: String] = [:], mentions text: String,
                                          status: Int32 = 78, file: StaticString = #filePath, line: UInt = #line) throws {
        let started = Date()
        let result = try AuthdProcess.run(arguments + ["--db-socket", "/nonexistent/db.sock", "--db-wait", "30"],
                                          environment: environment, timeout: 20)
        XCTAssertEqual(result.status, status, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(text), "expected \(text.debugDescription) in: \(result.stderr)", file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "at once, not after --db-wait", file: file, line: line)
    }

    func testBadConfigurationEndsAtOnceWithAClearMessage() throws {
        let m = try TestMaterial.make()
        defer { try? FileManager.default.removeItem(at: m.directory) }
        let tls = ["--listen", "127.0.0.1:0", "--tls-cert", m.certificate, "--tls-key", m.key]
        // No secret outside dev mode.
        try expectConfigurationError(tls, mentions: "no token secret: give --jwt-secret-file")
        // A secret file others may read, a short secret, a missing file.
        let open = m.directory.appendingPathComponent("open.secret").path
        try CertificateFactory.write(m.secret, to: open, mode: 0o644)
        try expectConfigurationError(tls + ["--jwt-secret-file", open], mentions: "readable by others")
        let short = m.directory.appendingPathComponent("short.secret").path
        try CertificateFactory.write("too-short", to: short, mode: 0o600)
        try expectConfigurationError(tls + ["--jwt-secret-file", short], mentions: "shorter than 32 bytes")
        try expectConfigurationError(tls + ["--jwt-secret-file", "/nonexistent/secret"], mentions: "cannot read the JWT secret file")
        // Values out of range, from a flag or from the environment.
        try expectConfigurationError(m.serveArguments + ["--access-ttl", "0"], mentions: "--access-ttl must be within 1...86400, not 0")
        try expectConfigurationError(m.serveArguments, environment: ["AUTHD_WORKERS": "0"], mentions: "AUTHD_WORKERS must be within")
        try expectConfigurationError(m.serveArguments, environment: ["AUTHD_ACCESS_TTL": "soon"], mentions: "AUTHD_ACCESS_TTL must be a whole number")
        try expectConfigurationError(m.serveArguments + ["--log-format", "xml"], mentions: "--log-format must be text or json")
        try expectConfigurationError(["--listen", "nowhere"] + Array(m.serveArguments.dropFirst(2)), mentions: "--listen must be HOST:PORT")
        try expectConfigurationError(["--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", m.key,
                                      "--jwt-secret-file", m.secretFile], mentions: "cannot read the TLS certificate file")
        try expectConfigurationError(m.serveArguments + ["--require-client-cert"], mentions: "--require-client-cert needs --tls-client-ca")
        // A malformed command line.
        try expectConfigurationError(m.serveArguments + ["--no-such-flag"], mentions: "Unknown option '--no-such-flag'", status: 64)
        // The secret never appears in what authd prints.
        let result = try AuthdProcess.run(m.serveArguments + ["--access-ttl", "0"], timeout: 20)
        XCTAssertFalse((result.stdout + result.stderr).contains(m.secret))
    }

    func testHelpDescribesTheSettings() throws {
        let top = try AuthdProcess.run(["--help"], timeout: 20)
        XCTAssertEqual(top.status, 0)
        let flowing = top.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")  // help text is wrapped
        for text in ["serve (default)", "migrate", "admin", "1 when start-up fails", "64 for a malformed command line",
                     "78 for bad configuration"] {
            XCTAssertTrue(flowing.contains(text), "\(text) missing from: \(top.stdout)")
        }
        let serve = try AuthdProcess.run(["serve", "--help"], timeout: 20)
        XCTAssertEqual(serve.status, 0)
        for text in ["--dev", "--listen", "--jwt-secret-file", "AUTHD_JWT_SECRET", "--db-wait", "--db-timeout", "--log-format",
                     "--access-ttl", "--workers", "--worker-queue"] {
            XCTAssertTrue(serve.stdout.contains(text), "\(text) missing from serve --help")
        }
        let admin = try AuthdProcess.run(["admin", "--help"], timeout: 20)
        XCTAssertEqual(admin.status, 0)
        XCTAssertTrue(admin.stdout.contains("grant") && admin.stdout.contains("revoke"), admin.stdout)
    }

    func testSettingsFromTheEnvironmentMigrateAPortInUseAndTheJSONLog() throws {
        // Settings from the environment; a flag wins over its variable.
        let authd = try AuthdProcess.start(arguments: ["--access-ttl", "120"],
                                           environment: ["AUTHD_LOG_FORMAT": "json", "AUTHD_ACCESS_TTL": "5000"])
        defer { authd.stop() }

        let migrate = try authd.runSubcommand(["migrate"])
        XCTAssertEqual(migrate.status, 0, migrate.stderr)
        XCTAssertTrue(migrate.stdout.hasPrefix("migrations applied: 1"), migrate.stdout)

        // A second server on the same port fails to start, with exit status 1.
        let m = try TestMaterial.make()
        defer { try? FileManager.default.removeItem(at: m.directory) }
        let busy = try AuthdProcess.run(["--listen", "127.0.0.1:\(authd.port)", "--tls-cert", m.certificate, "--tls-key", m.key,
                                         "--jwt-secret-file", m.secretFile] + authd.databaseArguments,
                                        environment: ["AUTH_DB_PASSWORD": authd.database.password], timeout: 30)
        XCTAssertEqual(busy.status, 1, busy.stderr)
        XCTAssertTrue(busy.stderr.contains("could not start"), busy.stderr)

        // A failed call, then a clean stop: every log line is one JSON object.
        let connection = try authd.connect()
        let client = Auth.Client(transport: connection)
        let password = "pw-\(UUID().uuidString)"
        let tokens = try client.register(RegisterRequest(email: uniqueEmail("env"), password: password))
        XCTAssertEqual(tokens.expiresAt - epochNow(), 120, accuracy: 2, "--access-ttl wins over AUTHD_ACCESS_TTL")
        XCTAssertRPCError(try client.login(LoginRequest(email: uniqueEmail(), password: password)), .unauthenticated)
        connection.close()
        XCTAssertEqual(authd.stop(), 0, authd.log(tail: 10))

        var messages: [String] = []
        var refused: [[String: Any]] = []
        for line in authd.log.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                XCTFail("not a JSON object: \(line)")
                continue
            }
            for key in ["ts", "level", "label", "msg"] { XCTAssertNotNil(object[key], "\(key) missing: \(line)") }
            let msg = object["msg"] as? String ?? ""
            messages.append(msg)
            if msg == "call refused" { refused.append(object) }
        }
        XCTAssertTrue(messages.contains("authd listening"), "\(messages)")
        XCTAssertTrue(messages.contains("authd stopped"), "\(messages)")
        XCTAssertTrue(refused.contains { $0["method"] as? String == "Login" && $0["code"] as? String == "UNAUTHENTICATED" }, "\(refused)")
        assertNoSecrets(in: authd.log, [password, authd.secret, tokens.token, tokens.refreshToken])
    }

    /// `authd --dev`: reads the private MariaDB's settings from `<data-dir>/mariadb.env`, makes its
    /// TLS material and secret under `<data-dir>/dev/` on first use and keeps them (a token issued
    /// before a restart still verifies after it).
    func testDevModeMakesAndKeepsItsMaterial() throws {
        // A database to use: made (and finally dropped) by an ordinary test server.
        let owner = try AuthdProcess.start()
        owner.stop(dropDatabase: false)
        defer { owner.stop() }
        let data = try TestEnvironment.makeTemporaryDirectory("authd-dev")
        defer { try? FileManager.default.removeItem(at: data) }
        let db = owner.database
        var env = "export AUTH_DB_USER='\(db.user)'\nexport AUTH_DB_PASSWORD='\(db.password)'\nexport AUTH_DB_NAME='\(db.database)'\n"
        if let socket = db.socket { env += "export AUTH_DB_SOCKET='\(socket)'\n" } else {
            env += "export AUTH_DB_HOST='\(db.host ?? "127.0.0.1")'\nexport AUTH_DB_PORT='\(db.port ?? 3306)'\n"
        }
        try CertificateFactory.write(env, to: data.appendingPathComponent("mariadb.env").path, mode: 0o600)

        let dev = data.appendingPathComponent("dev")
        let (first, port1) = try launchDev(dataDirectory: data)
        let connection = try ClientConnection(configuration: ClientConfiguration(
            host: "127.0.0.1", port: port1, tls: .client(trustRootsFile: dev.appendingPathComponent("ca.pem").path)))
        let password = "pw-\(UUID().uuidString)"
        let tokens = try Auth.Client(transport: connection).register(RegisterRequest(email: uniqueEmail("dev"), password: password))
        connection.close()
        first.terminate()
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        for (name, mode) in [("ca.pem", 0o644), ("server.pem", 0o644), ("server.key", 0o600), ("jwt.secret", 0o600)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dev.appendingPathComponent(name).path)
            XCTAssertEqual((attributes[.posixPermissions] as? Int).map { $0 & 0o777 }, mode, name)
        }
        let ca = try String(contentsOf: dev.appendingPathComponent("ca.pem"), encoding: .utf8)

        let (second, port2) = try launchDev(dataDirectory: data)
        defer { second.terminate(); second.waitUntilExit() }
        XCTAssertEqual(try String(contentsOf: dev.appendingPathComponent("ca.pem"), encoding: .utf8), ca, "kept, not remade")
        let again = try ClientConnection(configuration: ClientConfiguration(
            host: "127.0.0.1", port: port2, tls: .client(trustRootsFile: dev.appendingPathComponent("ca.pem").path)))
        defer { again.close() }
        let valid = try Auth.Client(transport: again).validate(ValidateRequest(token: tokens.token))
        XCTAssertTrue(valid.valid, "the dev secret survives a restart")
        let secret = try String(contentsOf: dev.appendingPathComponent("jwt.secret"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let log = (try? String(contentsOf: data.appendingPathComponent("authd.log"), encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("dev=true"), log)
        assertNoSecrets(in: log, [password, tokens.token, tokens.refreshToken, secret, db.password])
    }

    /// Starts `authd --dev --data-dir DIR --listen 127.0.0.1:0` and waits until it listens.
    private func launchDev(dataDirectory data: URL) throws -> (Process, Int) {
        let ready = data.appendingPathComponent("ready").path
        try? FileManager.default.removeItem(atPath: ready)
        let process = Process()
        process.executableURL = AuthdProcess.binary
        process.arguments = ["--dev", "--data-dir", data.path, "--listen", "127.0.0.1:0", "--ready-file", ready,
                             "--argon2-memory-kib", "1024", "--argon2-iterations", "1"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTH_") && !$0.key.hasPrefix("AUTHD_") }
        let logPath = data.appendingPathComponent("authd.log").path
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var port: Int?
        waitUntil(timeout: .seconds(30), poll: .milliseconds(50)) {
            if let text = try? String(contentsOfFile: ready, encoding: .utf8), text.hasSuffix("\n") {
                port = Int(text.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
            }
            return port != nil || !process.isRunning
        }
        if let port { return (process, port) }
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        throw TestSetupError("authd --dev did not start: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
    }
}
