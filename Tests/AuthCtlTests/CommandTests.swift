import DevCertificates
import Foundation
import Support
import TestSupport
import XCTest

/// Every authctl command, in text and JSON, against a real authd (TLS, MariaDB).
final class CommandTests: XCTestCase {
    nonisolated(unsafe) static var authd: AuthdProcess?

    override class func setUp() {
        authd = try? AuthdProcess.start()
    }

    override class func tearDown() {
        authd?.stop()
        authd = nil
    }

    private func harness() throws -> AuthCtlHarness {
        let authd = try XCTUnwrap(Self.authd, "authd did not start (is the private MariaDB running?)")
        return try AuthCtlHarness(authd: authd)
    }

    func testRegisterStatusRefreshLogoutInText() throws {
        let ctl = try harness()
        let email = AuthCtlHarness.email("text")
        let registered = try ctl.register(email)
        XCTAssertEqual(registered.status, 0, registered.stderr)
        XCTAssertTrue(registered.stdout.contains("Registered as \(email)"), registered.stdout)
        XCTAssertTrue(registered.stdout.contains("Token expires:"), registered.stdout)
        XCTAssertFalse(registered.stdout.contains(AuthCtlHarness.password))

        // The credentials file: mode 0600, in a 0700 folder.
        let attributes = try FileManager.default.attributesOfItem(atPath: ctl.credentialsPath)
        XCTAssertEqual((attributes[.posixPermissions] as? Int).map { $0 & 0o777 }, 0o600)
        let folder = try FileManager.default.attributesOfItem(atPath: (ctl.credentialsPath as NSString).deletingLastPathComponent)
        XCTAssertEqual((folder[.posixPermissions] as? Int).map { $0 & 0o777 }, 0o700)

        let status = try ctl.run(["status"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("User:"), status.stdout)
        XCTAssertTrue(status.stdout.contains(email), status.stdout)
        XCTAssertTrue(status.stdout.contains("Admin:       no"), status.stdout)

        // Without --server or AUTHCTL_SERVER, commands go to the server the credentials came from.
        let kept = try ctl.run(["status"], withoutServer: true)
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertTrue(kept.stdout.contains(email), kept.stdout)

        let before = try ctl.keptToken()
        let refreshed = try ctl.run(["refresh"])
        XCTAssertEqual(refreshed.status, 0, refreshed.stderr)
        XCTAssertTrue(refreshed.stdout.hasPrefix("Refreshed as \(email)"), refreshed.stdout)
        XCTAssertNotEqual(try ctl.keptToken(), before)
        let attributesAfter = try FileManager.default.attributesOfItem(atPath: ctl.credentialsPath)
        XCTAssertEqual((attributesAfter[.posixPermissions] as? Int).map { $0 & 0o777 }, 0o600)

        let token = try ctl.keptToken()
        let valid = try ctl.run(["validate", token])
        XCTAssertEqual(valid.status, 0, valid.stderr)
        XCTAssertTrue(valid.stdout.hasPrefix("Token is valid."), valid.stdout)

        let logout = try ctl.run(["logout"])
        XCTAssertEqual(logout.status, 0, logout.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: ctl.credentialsPath), "logout removes the credentials")

        let refused = try ctl.run(["validate", token])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.stdout, "")
        XCTAssertTrue(refused.stderr.contains("UNAUTHENTICATED: Token blacklisted. Please log in again."), refused.stderr)

        let notLoggedIn = try ctl.run(["status"])
        XCTAssertEqual(notLoggedIn.status, 2, "status without credentials is a usage error")

        let health = try ctl.run(["health"])
        XCTAssertEqual(health.status, 0)
        XCTAssertTrue(health.stdout.contains("SERVING"), health.stdout)
    }

    func testEveryCommandInJSON() throws {
        let ctl = try harness()
        let email = AuthCtlHarness.email("json")
        let registered = try ctl.json(["register", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        for key in ["token", "expires_at", "refresh_token"] { XCTAssertNotNil(registered[key], key) }
        XCTAssertEqual(registered["token"] as? String, try ctl.keptToken())

        let login = try ctl.json(["login", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        for key in ["token", "expires_at", "refresh_token"] { XCTAssertNotNil(login[key], key) }
        let token = try XCTUnwrap(login["token"] as? String)

        let status = try ctl.json(["status"])
        XCTAssertEqual(status["email"] as? String, email)
        XCTAssertEqual(status["admin"] as? Bool, false)
        XCTAssertNotNil(status["user_id"] as? Int)
        XCTAssertNotNil(status["registered_on"] as? Int)

        let viaFlag = try ctl.json(["status", "--token", token])
        XCTAssertEqual(viaFlag["email"] as? String, email)

        let valid = try ctl.json(["validate", token])
        XCTAssertEqual(valid["user_id"] as? Int, status["user_id"] as? Int)
        XCTAssertEqual(valid["admin"] as? Bool, false)
        XCTAssertEqual(valid["expires_at"] as? Int, login["expires_at"] as? Int)
        XCTAssertGreaterThan(valid["expires_in"] as? Int ?? 0, 0)
        let fromStdin = try ctl.json(["validate", "-"], input: token + "\n")
        XCTAssertEqual(fromStdin["user_id"] as? Int, status["user_id"] as? Int)

        let refreshed = try ctl.json(["refresh"])
        for key in ["token", "expires_at", "refresh_token"] { XCTAssertNotNil(refreshed[key], key) }
        // The old refresh token is used up.
        let reused = try ctl.json(["refresh", "--token", login["refresh_token"] as? String ?? ""], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(reused).code, "UNAUTHENTICATED")
        // The reuse revoked that whole session, the kept tokens included: log in again.
        _ = try ctl.json(["login", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        // Refresh tokens are base64url, so one in 64 starts with "-": it is the flag's value, not an option.
        let dashed = try ctl.json(["refresh", "--token", "-" + String(repeating: "A", count: 42)], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(dashed).code, "UNAUTHENTICATED", "\(dashed)")

        let health = try ctl.json(["health"])
        XCTAssertEqual(health["status"] as? String, "SERVING")

        let kept = try ctl.keptToken()
        _ = try ctl.json(["logout"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: ctl.credentialsPath))
        let refused = try ctl.json(["validate", kept], expectStatus: 1)
        XCTAssertEqual(refused.count, 1)
        XCTAssertEqual(AuthCtlHarness.error(refused).code, "UNAUTHENTICATED")
        XCTAssertEqual(AuthCtlHarness.error(refused).message, "Token blacklisted. Please log in again.")
        let garbage = try ctl.json(["validate", "not.a.token"], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(garbage).message, "Invalid token. Please log in again.")
        let statusRefused = try ctl.json(["status", "--token", kept], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(statusRefused).code, "UNAUTHENTICATED")
    }

    /// authctl exits right after its reply arrives, while the connection's I/O thread may still be
    /// finishing its last TLS calls; exit-time clean-up racing that thread crashed it now and then
    /// (SIGSEGV, nothing printed). Many short runs at once, refused and accepted, each must exit
    /// with its documented status and print its one JSON line. Bounded: 4 threads x 25 runs.
    func testManyShortRunsExitCleanly() throws {
        let ctl = try harness()
        let login = try ctl.json(["register", "--email", AuthCtlHarness.email("exits"), "--password-stdin"],
                                 input: AuthCtlHarness.password + "\n")
        let token = try XCTUnwrap(login["token"] as? String)
        let outcomes = Locked<[String: Int]>([:])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for run in 0..<25 {
                let refused = (worker + run) % 2 == 0
                let arguments = refused ? ["validate", "not.a.token", "--json"] : ["validate", token, "--json"]
                let outcome: String
                do {
                    let result = try ctl.run(arguments)
                    let lines = result.stdout.split(separator: "\n").count
                    outcome = "status \(result.status), \(lines) line(s)"
                } catch {
                    outcome = "\(error)"
                }
                outcomes.withLock { $0[outcome, default: 0] += 1 }
            }
        }
        XCTAssertEqual(outcomes.withLock { $0 }, ["status 1, 1 line(s)": 50, "status 0, 1 line(s)": 50])
    }

    func testWrongPasswordIsRefusedInTextAndJSON() throws {
        let ctl = try harness()
        let email = AuthCtlHarness.email("wrong")
        XCTAssertEqual(try ctl.register(email).status, 0)
        let text = try ctl.run(["login", "--email", email, "--password-stdin"], input: "not the password at all\n")
        XCTAssertEqual(text.status, 1)
        XCTAssertEqual(text.stdout, "")
        XCTAssertTrue(text.stderr.hasPrefix("authctl: UNAUTHENTICATED: "), text.stderr)
        XCTAssertFalse(text.stderr.contains("not the password"))
        let json = try ctl.json(["login", "--email", email, "--password-stdin"], input: "not the password at all\n",
                                expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(json).code, "UNAUTHENTICATED")
        XCTAssertNotNil(AuthCtlHarness.error(json).message)
        let taken = try ctl.json(["register", "--email", email, "--password-stdin"], input: AuthCtlHarness.password + "\n",
                                 expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(taken).code, "ALREADY_EXISTS")
    }

    func testRevokeAllNeedsAnAdministrator() throws {
        let ctl = try harness()
        let authd = ctl.authd
        let victim = try AuthCtlHarness(authd: authd)
        let victimEmail = AuthCtlHarness.email("victim")
        let victimTokens = try victim.json(["register", "--email", victimEmail, "--password-stdin"],
                                           input: AuthCtlHarness.password + "\n")
        let victimID = try XCTUnwrap(victimTokens["user_id"] as? Int)

        let adminEmail = AuthCtlHarness.email("admin")
        XCTAssertEqual(try ctl.register(adminEmail).status, 0)
        let denied = try ctl.json(["revoke-all", "--user-id", String(victimID)], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(denied).code, "PERMISSION_DENIED")

        // Grant admin rights with `authd admin grant` on the test database, then log in again.
        var arguments = ["admin", "grant", adminEmail, "--db-name", authd.databaseName, "--db-user", authd.database.user]
        if let socket = authd.database.socket { arguments += ["--db-socket", socket] } else {
            arguments += ["--db-host", authd.database.host ?? "127.0.0.1", "--db-port", String(authd.database.port ?? 3306)]
        }
        var env = ProcessInfo.processInfo.environment
        env["AUTH_DB_PASSWORD"] = authd.database.password
        let grant = try ProcessRunner.run(AuthdProcess.binary, arguments, environment: env)
        XCTAssertEqual(grant.status, 0, grant.stderr)
        _ = try ctl.json(["login", "--email", adminEmail, "--password-stdin"], input: AuthCtlHarness.password + "\n")
        XCTAssertEqual(try ctl.json(["status"])["admin"] as? Bool, true)

        let revoked = try ctl.json(["revoke-all", "--user-id", String(victimID)])
        XCTAssertEqual(revoked["user_id"] as? Int, victimID)
        XCTAssertNotNil(revoked["revoked_before"] as? Int)
        let text = try ctl.run(["revoke-all", "--user-id", String(victimID)])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.hasPrefix("Revoked every token of user \(victimID)"), text.stdout)

        let refused = try victim.json(["status"], expectStatus: 1)
        XCTAssertEqual(AuthCtlHarness.error(refused).code, "UNAUTHENTICATED")
    }

    func testConnectionFailuresExitThree() throws {
        let ctl = try harness()
        // A port nobody listens on: bind one, learn it, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length); return getsockname(fd, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(fd)

        let text = try ctl.run(["health", "--server", "127.0.0.1:\(port)"])
        XCTAssertEqual(text.status, 3, text.stderr)
        XCTAssertTrue(text.stderr.contains("cannot connect"), text.stderr)
        let json = try ctl.json(["validate", "x.y.z", "--server", "127.0.0.1:\(port)"], expectStatus: 3)
        XCTAssertEqual(AuthCtlHarness.error(json).code, "UNAVAILABLE")

        // TLS failure: a CA that did not sign the server's certificate.
        let other = try CertificateFactory.makeAuthority(commonName: "some other CA")
        let caFile = ctl.configHome.appendingPathComponent("other-ca.pem").path
        try CertificateFactory.write(other.certificatePEM, to: caFile, mode: 0o644)
        let tls = try ctl.run(["health", "--ca", caFile])
        XCTAssertEqual(tls.status, 3, tls.stdout + tls.stderr)
        let bench = try ctl.run(["bench", "health", "--requests", "10", "--server", "127.0.0.1:\(port)"])
        XCTAssertEqual(bench.status, 3, bench.stderr)
    }

    func testUsageErrorsExitTwoAndEveryCommandHasHelpWithAnExample() throws {
        let ctl = try harness()
        for arguments in [["login"], ["login", "--email", "a@example.com", "--password", "secret"], ["bogus"],
                          ["bench", "nonsense"], ["bench", "--duration", "1", "--requests", "5"],
                          ["health", "--server", "no-port"], ["revoke-all"]] {
            let result = try ctl.run(arguments, input: "")
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
        }
        let json = try ctl.json(["health", "--server", "nonsense"], expectStatus: 2)
        XCTAssertNotNil(AuthCtlHarness.error(json).message)
        for command in ["register", "login", "status", "logout", "refresh", "validate", "health", "revoke-all", "bench"] {
            let help = try ctl.run([command, "--help"])
            XCTAssertEqual(help.status, 0, command)
            XCTAssertTrue(help.stdout.contains("Example"), "\(command) --help has an example")
            XCTAssertTrue(help.stdout.contains("--server"), "\(command) --help lists the common options")
        }
        XCTAssertEqual(try ctl.run(["--help"]).status, 0)
    }

    func testClientCertificateForMutualTLS() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("authctl-mtls")
        defer { try? FileManager.default.removeItem(at: directory) }
        let clientCA = try CertificateFactory.makeAuthority(commonName: "authctl test client CA")
        let leaf = try CertificateFactory.makeLeaf(commonName: "authctl test client", subjectAltNames: ["DNS:client"],
                                                   authority: clientCA, serverAuth: false, clientAuth: true)
        let caFile = directory.appendingPathComponent("client-ca.pem").path
        let certFile = directory.appendingPathComponent("client.pem").path
        let keyFile = directory.appendingPathComponent("client.key").path
        try CertificateFactory.write(clientCA.certificatePEM, to: caFile, mode: 0o644)
        try CertificateFactory.write(leaf.certificatePEM, to: certFile, mode: 0o644)
        try CertificateFactory.write(leaf.privateKeyPEM, to: keyFile, mode: 0o600)

        let authd = try AuthdProcess.start(arguments: ["--tls-client-ca", caFile, "--require-client-cert"])
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let with = try ctl.json(["health", "--cert", certFile, "--key", keyFile])
        XCTAssertEqual(with["status"] as? String, "SERVING")
        let bench = try ctl.json(["bench", "health", "--requests", "20", "--warmup", "0", "--idle-connections", "2",
                                  "--cert", certFile, "--key", keyFile])
        XCTAssertEqual(bench["count"] as? Int, 20)
        let without = try ctl.run(["health"])
        XCTAssertEqual(without.status, 3, "no client certificate: the TLS connection fails: \(without.stderr)")
        let half = try ctl.run(["health", "--cert", certFile])
        XCTAssertEqual(half.status, 2, "--cert without --key is a usage error")
    }
}
