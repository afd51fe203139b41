import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// Runs the Python client's end-to-end tests (pytest in `.data/venv`) against live authd servers.
/// clients/python/tests/test_e2e.py runs against three: one with the defaults, one whose access tokens
/// live one second (for the expiry scenario), and one on a `PrivateMariaDB` that is stopped and
/// started between pytest runs (the outage scenario, one phase a run). An administrator is prepared here with
/// `authd admin grant`. clients/python/tests/test_accounts.py runs in a method of its own.
/// Python reports every secret it used; none may appear in the servers' logs.
final class PythonEndToEndTests: XCTestCase {
    func testPythonClientAgainstLiveAuthd() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let short = try AuthdProcess.start(arguments: ["--access-ttl", "1", "--leeway", "0"])
        defer { short.stop() }
        // A server on a database of its own, which this test stops and starts between pytest runs.
        let db = try PrivateMariaDB.create()
        defer { db.destroy() }
        let outage = try AuthdProcess.start(arguments: ["--db-timeout", "2", "--revocation-poll-ms", "200",
                                                          // Validate from memory while down (within this bound).
                                                          "--revocation-max-staleness", "120"],
                                            database: db.settings(database: "auth_py_outage"))
        defer { outage.stop() }

        // An administrator for the revoke-all scenario.
        let adminEmail = uniqueEmail("py-admin"), adminPassword = "pw-\(UUID().uuidString)"
        let connection = try authd.connect()
        defer { connection.close() }
        let registered = try Auth.Client(transport: connection).register(RegisterRequest(email: adminEmail, password: adminPassword))
        let grant = try authd.runSubcommand(["admin", "grant", adminEmail])
        XCTAssertEqual(grant.status, 0, grant.stderr)

        let secretsFile = authd.directory.appendingPathComponent("python-secrets.txt").path
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        environment["AUTHD_E2E_ADDRESS"] = "\(authd.host):\(authd.port)"
        environment["AUTHD_E2E_CA"] = authd.caFile
        environment["AUTHD_E2E_SECRET_FILE"] = authd.secretFile
        environment["AUTHD_E2E_SHORT_ADDRESS"] = "\(short.host):\(short.port)"
        environment["AUTHD_E2E_SHORT_CA"] = short.caFile
        environment["AUTHD_E2E_ADMIN_EMAIL"] = adminEmail
        environment["AUTHD_E2E_ADMIN_PASSWORD"] = adminPassword
        environment["AUTHD_E2E_SECRETS_OUT"] = secretsFile
        environment["AUTHD_E2E_OUTAGE_ADDRESS"] = "\(outage.host):\(outage.port)"
        environment["AUTHD_E2E_OUTAGE_CA"] = outage.caFile
        environment["AUTHD_E2E_OUTAGE_STATE"] = outage.directory.appendingPathComponent("outage-state.json").path
        environment["AUTHD_E2E_OUTAGE_PHASE"] = "up"
        let testFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_e2e.py").path
        let result = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", testFile],
                                           environment: environment, timeout: 120)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse(result.stdout.contains("skipped"), result.stdout)
        XCTAssertTrue(result.stdout.contains("passed"), result.stdout)

        // The outage, seen from Python: the database stops, then comes back.
        db.stop()
        for phase in ["down", "back"] {
            if phase == "back" { try db.start() }
            environment["AUTHD_E2E_OUTAGE_PHASE"] = phase
            let run = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", testFile,
                                                     "-k", "test_database_outage"],
                                            environment: environment, timeout: 90)
            XCTAssertEqual(run.status, 0, "phase \(phase): " + run.stdout + run.stderr)
            XCTAssertTrue(run.stdout.contains("1 passed"), "phase \(phase): " + run.stdout)
        }

        // The example in clients/python stays true.
        let exampleEmail = uniqueEmail("py-example"), examplePassword = "pw-\(UUID().uuidString)"
        let example = try ProcessRunner.run(python, [TestEnvironment.packageRoot.appendingPathComponent("clients/python/example.py").path,
                                                     "--address", "\(authd.host):\(authd.port)", "--ca", authd.caFile,
                                                     "--email", exampleEmail, "--password", examplePassword],
                                            environment: environment, timeout: 60)
        XCTAssertEqual(example.status, 0, example.stdout + example.stderr)
        for line in ["health: SERVING", "registered \(exampleEmail) as user", "status: user", "validate: valid=True",
                     "logout: Successfully logged out.", "validate after logout: valid=False, Token blacklisted. Please log in again."] {
            XCTAssertTrue(example.stdout.contains(line), "\(line) missing from: \(example.stdout)")
        }

        XCTAssertEqual(authd.stop(dropDatabase: false), 0)
        XCTAssertEqual(short.stop(dropDatabase: false), 0)
        XCTAssertEqual(outage.stop(dropDatabase: false), 0)
        var secrets: Set<String> = [authd.secret, short.secret, adminPassword, registered.token, registered.refreshToken, examplePassword]
        let reported = (try? String(contentsOfFile: secretsFile, encoding: .utf8)) ?? ""
        secrets.formUnion(reported.split(separator: "\n").map(String.init))
        XCTAssertGreaterThan(secrets.count, 20, "Python reported the secrets it used")
        secrets.insert(db.password)
        assertNoSecrets(in: authd.log + short.log + outage.log, secrets)
    }

    /// Runs clients/python/tests/test_accounts.py (the account and administration RPCs through the
    /// Python client) against two instances on one database with a short revocation poll, and one
    /// with `--registration closed`; each has an administrator made by the operator commands.
    func testPythonAccountsAgainstLiveAuthd() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let a = try AuthdProcess.start(arguments: ["--revocation-poll-ms", "200"])
        defer { a.stop() }
        let b = try AuthdProcess.start(arguments: ["--revocation-poll-ms", "200"], databaseName: a.database.database, secret: a.secret)
        defer { b.stop() }
        let closed = try AuthdProcess.start(arguments: ["--registration", "closed"])
        defer { closed.stop() }
        let adminEmail = uniqueEmail("py-root"), closedAdminEmail = uniqueEmail("py-closed-root")
        let adminPassword = try createAdministrator(adminEmail, on: a)
        let closedAdminPassword = try createAdministrator(closedAdminEmail, on: closed)

        let secretsFile = a.directory.appendingPathComponent("python-account-secrets.txt").path
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        environment["AUTHD_ACCOUNTS_ADDRESS"] = "\(a.host):\(a.port)"
        environment["AUTHD_ACCOUNTS_CA"] = a.caFile
        environment["AUTHD_ACCOUNTS_SECOND_ADDRESS"] = "\(b.host):\(b.port)"
        environment["AUTHD_ACCOUNTS_SECOND_CA"] = b.caFile
        environment["AUTHD_ACCOUNTS_ADMIN_EMAIL"] = adminEmail
        environment["AUTHD_ACCOUNTS_ADMIN_PASSWORD"] = adminPassword
        // The revocation bound with a 200 ms poll, with room for a loaded machine.
        environment["AUTHD_ACCOUNTS_BOUND"] = "3"
        environment["AUTHD_ACCOUNTS_CLOSED_ADDRESS"] = "\(closed.host):\(closed.port)"
        environment["AUTHD_ACCOUNTS_CLOSED_CA"] = closed.caFile
        environment["AUTHD_ACCOUNTS_CLOSED_ADMIN_EMAIL"] = closedAdminEmail
        environment["AUTHD_ACCOUNTS_CLOSED_ADMIN_PASSWORD"] = closedAdminPassword
        environment["AUTHD_ACCOUNTS_SECRETS_OUT"] = secretsFile
        let testFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_accounts.py").path
        let result = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", testFile],
                                           environment: environment, timeout: 180)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse(result.stdout.contains("skipped"), result.stdout)
        XCTAssertTrue(result.stdout.contains("11 passed"), result.stdout)

        XCTAssertEqual(a.stop(dropDatabase: false), 0)
        XCTAssertEqual(b.stop(dropDatabase: false), 0)
        XCTAssertEqual(closed.stop(dropDatabase: false), 0)
        var secrets: Set<String> = [a.secret, closed.secret, adminPassword, closedAdminPassword]
        let reported = (try? String(contentsOfFile: secretsFile, encoding: .utf8)) ?? ""
        secrets.formUnion(reported.split(separator: "\n").map(String.init))
        XCTAssertGreaterThan(secrets.count, 40, "Python reported the passwords, tokens and reset codes it used")
        assertNoSecrets(in: a.log + b.log + closed.log, secrets)
    }

    /// An administrator made by the operator commands (`authd admin user create`, then `admin
    /// grant`), which work with registration closed too; its generated password.
    private func createAdministrator(_ email: String, on authd: AuthdProcess) throws -> String {
        let made = try authd.runSubcommand(["admin", "user", "create", email])
        XCTAssertEqual(made.status, 0, made.stderr)
        let line = try XCTUnwrap(made.stdout.split(separator: "\n").first { $0.hasPrefix("password: ") })
        let grant = try authd.runSubcommand(["admin", "grant", email])
        XCTAssertEqual(grant.status, 0, grant.stderr)
        return String(line.dropFirst("password: ".count))
    }
}
