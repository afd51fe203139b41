import AuthAPI
import AuthClient
import AuthCore
import DevCertificates
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
        // Choices: ArgumentParser refuses a bad flag value (64); the variable is read with the same enum (78).
        try expectConfigurationError(m.serveArguments + ["--log-format", "xml"], mentions: "The value 'xml' is invalid for '--log-format",
                                     status: 64)
        try expectConfigurationError(m.serveArguments, environment: ["AUTHD_LOG_FORMAT": "xml"],
                                     mentions: "AUTHD_LOG_FORMAT must be one of text, json, not \"xml\"")
        try expectConfigurationError(m.serveArguments + ["--log-level", "loud"], mentions: "invalid for '--log-level", status: 64)
        try expectConfigurationError(m.serveArguments + ["--tls-min-version", "1.1"], mentions: "invalid for '--tls-min-version",
                                     status: 64)
        try expectConfigurationError(m.serveArguments, environment: ["AUTHD_TLS_MIN_VERSION": "1.1"],
                                     mentions: "AUTHD_TLS_MIN_VERSION must be one of 1.2, 1.3")
        try expectConfigurationError(m.serveArguments, environment: ["AUTHD_REQUIRE_CLIENT_CERT": "yes"],
                                     mentions: "AUTHD_REQUIRE_CLIENT_CERT must be 1 or 0")
        try expectConfigurationError(["--listen", "nowhere"] + Array(m.serveArguments.dropFirst(2)), mentions: "--listen: \"nowhere\" is not HOST:PORT")
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

    /// One entry of `authd serve --help`: its default, its range and its variable, as stated.
    struct HelpEntry {
        var defaultText: String?
        var range: ClosedRange<Int>?
        var variable: String?
    }

    /// The entries of `authd serve --help` by flag (`--access-ttl`), each with its wrapped text flowed.
    static func serveHelp() throws -> [String: HelpEntry] {
        let result = try AuthdProcess.run(["serve", "--help"], timeout: 20)
        XCTAssertEqual(result.status, 0, result.stderr)
        var texts: [String: String] = [:]
        var current: String?
        for line in result.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  -") {
                let flag = line.dropFirst(2).split(separator: " ").first.map { String($0).replacingOccurrences(of: ",", with: "") }
                current = flag
                texts[flag ?? ""] = String(line)
            } else if let current, line.hasPrefix("   ") {
                texts[current, default: ""] += " " + line.trimmingCharacters(in: .whitespaces)
            } else {
                current = nil
            }
        }
        var entries: [String: HelpEntry] = [:]
        let pattern = /\(default: ([^,)]+)(?:, within (\d+)\.\.\.(\d+))?\)/
        for (flag, text) in texts {
            let flowing = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            var entry = HelpEntry()
            if let match = flowing.firstMatch(of: pattern) {
                entry.defaultText = String(match.1)
                if let low = match.2.flatMap({ Int($0) }), let high = match.3.flatMap({ Int($0) }) { entry.range = low...high }
            }
            entry.variable = flowing.firstMatch(of: /\[([A-Z0-9_]+)/).map { String($0.1) }
            entries[flag] = entry
        }
        return entries
    }

    /// The defaults and ranges `serve --help` states are the ones the auth core and the transport
    /// apply (authd's settings table reads them from there; this catches a table that stops doing so).
    func testHelpStatesTheDefaultsAndRangesTheCodeApplies() throws {
        let help = try Self.serveHelp()
        func check(_ flag: String, _ value: Int, range: ClosedRange<Int>? = nil, variable: String,
                   file: StaticString = #filePath, line: UInt = #line) {
            guard let entry = help[flag] else { return XCTFail("\(flag) missing from serve --help", file: file, line: line) }
            XCTAssertEqual(entry.defaultText, String(value), "\(flag)'s stated default", file: file, line: line)
            if let range { XCTAssertEqual(entry.range, range, "\(flag)'s stated range", file: file, line: line) }
            XCTAssertEqual(entry.variable, variable, file: file, line: line)
        }
        func count(_ d: Duration, _ unit: Duration) -> Int { Int(d / unit) }
        func counts(_ r: ClosedRange<Duration>, _ unit: Duration) -> ClosedRange<Int> { count(r.lowerBound, unit)...count(r.upperBound, unit) }

        // The auth core's defaults (a configuration built without authd has them) and the ranges its validated() enforces.
        let plain = AuthConfiguration(signingKeys: ["k": Array(repeating: 7, count: 32)], activeKeyID: "k")
        let bounds = AuthConfiguration.Bounds.self
        check("--access-ttl", count(plain.accessTokenLifetime, .seconds(1)), range: counts(bounds.accessTokenLifetime.range, .seconds(1)),
              variable: "AUTHD_ACCESS_TTL")
        check("--refresh-ttl", count(plain.refreshTokenLifetime, .seconds(1)),
              range: counts(bounds.refreshTokenLifetime.range, .seconds(1)), variable: "AUTHD_REFRESH_TTL")
        check("--leeway", count(plain.leeway, .seconds(1)), range: counts(bounds.leeway.range, .seconds(1)), variable: "AUTHD_LEEWAY")
        check("--revocation-poll-ms", count(plain.revocationPollInterval, .milliseconds(1)),
              range: counts(bounds.revocationPollInterval.range, .milliseconds(1)), variable: "AUTHD_REVOCATION_POLL_MS")
        XCTAssertEqual(help["--revocation-poll-ms"]?.defaultText, "500")
        check("--argon2-memory-kib", plain.passwordHashing.memoryKiB, range: Argon2Parameters.memoryKiBRange,
              variable: "AUTHD_ARGON2_MEMORY_KIB")
        check("--argon2-iterations", plain.passwordHashing.iterations, range: Argon2Parameters.iterationsRange,
              variable: "AUTHD_ARGON2_ITERATIONS")
        XCTAssertEqual(help["--argon2-iterations"]?.range, 1...64)
        check("--register-limit-per-address", plain.throttle.registerAddressLimit, range: bounds.registerLimitPerAddress.range,
              variable: "AUTHD_REGISTER_LIMIT_PER_ADDRESS")
        check("--register-limit-global", plain.throttle.registerGlobalLimit, range: bounds.registerLimitGlobal.range,
              variable: "AUTHD_REGISTER_LIMIT_GLOBAL")
        check("--register-window", count(plain.throttle.registerWindow, .seconds(1)), range: counts(bounds.registerWindow.range, .seconds(1)),
              variable: "AUTHD_REGISTER_WINDOW")
        // The transport's defaults.
        let limits = ServerLimits()
        check("--idle-timeout", count(limits.idleTimeout, .seconds(1)), variable: "AUTHD_IDLE_TIMEOUT")
        check("--handshake-timeout", count(limits.handshakeTimeout, .seconds(1)), variable: "AUTHD_HANDSHAKE_TIMEOUT")
        check("--max-frame", limits.maxFrameSize, variable: "AUTHD_MAX_FRAME")
        check("--max-calls", limits.maxCallsInFlightPerConnection, variable: "AUTHD_MAX_CALLS")
        check("--max-connections", limits.maxConnections, variable: "AUTHD_MAX_CONNECTIONS")
        check("--worker-queue", limits.workerQueueCapacity, variable: "AUTHD_WORKER_QUEUE")
        // Choices list their values.
        let serve = try AuthdProcess.run(["serve", "--help"], timeout: 20).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for text in ["(values: trace, debug, info, notice, warning, error, critical)", "(values: text, json)", "(values: 1.2, 1.3)"] {
            XCTAssertTrue(serve.contains(text), "\(text) missing from serve --help")
        }
    }

    /// A flag and its environment variable go through the same parse and the same range check,
    /// the range the help states; the error names whichever was used.
    func testAFlagAndItsVariableMeetTheSameRangeCheck() throws {
        let m = try TestMaterial.make()
        defer { try? FileManager.default.removeItem(at: m.directory) }
        let help = try Self.serveHelp()
        for flag in ["--revocation-poll-ms", "--argon2-iterations", "--busy-poll", "--db-timeout", "--max-calls"] {
            let entry = try XCTUnwrap(help[flag], flag)
            let range = try XCTUnwrap(entry.range, flag)
            let variable = try XCTUnwrap(entry.variable, flag)
            var outside = [range.upperBound + 1]
            if range.lowerBound > 0 { outside.append(range.lowerBound - 1) }
            for bad in outside {
                let message = "must be within \(range.lowerBound)...\(range.upperBound), not \(bad)"
                try expectConfigurationError(m.serveArguments + [flag, "\(bad)"], mentions: "\(flag) \(message)")
                try expectConfigurationError(m.serveArguments, environment: [variable: "\(bad)"], mentions: "\(variable) \(message)")
            }
        }
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
        // No --access-ttl: the lifetime is the default the help states.
        let stated = try XCTUnwrap(try Self.serveHelp()["--access-ttl"]?.defaultText.flatMap { Int64($0) })
        XCTAssertEqual(tokens.expiresAt - epochNow(), stated, accuracy: 2, "the default --access-ttl applies")
        connection.close()
        first.terminate()
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        for (name, mode) in [("ca.pem", 0o644), ("server.pem", 0o644), ("server.key", 0o600), ("jwt.secret", 0o600)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dev.appendingPathComponent(name).path)
            XCTAssertEqual((attributes[.posixPermissions] as? Int).map { $0 & 0o777 }, mode, name)
        }
        let ca = try String(contentsOf: dev.appendingPathComponent("ca.pem"), encoding: .utf8)
        // A dev key left readable by others (an older authd's, or copied in) is tightened, not refused.
        let key = dev.appendingPathComponent("server.key").path
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)

        let (second, port2) = try launchDev(dataDirectory: data)
        defer { second.terminate(); second.waitUntilExit() }
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int).map { $0 & 0o777 }, 0o600)
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
