import Foundation
import TestSupport
import XCTest

/// authd refuses to start on a TLS private key others may read, and on plaintext TCP to a
/// database host that is not loopback; it reaches MariaDB over TLS verified against --db-tls-ca.
final class TransportSecurityTests: XCTestCase {
    /// Runs authd with `arguments`; `serve` does not wait for a database (migrate and admin never do).
    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        let serve = !["migrate", "admin"].contains(arguments.first ?? "")
        return try AuthdProcess.run(arguments + (serve ? ["--db-wait", "0"] : []), environment: environment, timeout: 20)
    }

    func testATLSKeyOthersMayReadIsRefused() throws {
        let m = try TestMaterial.make()
        defer { try? FileManager.default.removeItem(at: m.directory) }
        for mode in [0o640, 0o604, 0o644] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: m.key)
            let r = try run(m.serveArguments + ["--db-socket", "/nonexistent/db.sock"])
            XCTAssertEqual(r.status, 78, "mode \(String(mode, radix: 8)): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("the TLS private key file \(m.key) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it"),
                          r.stderr)
        }
        // 0600 passes the check (and start-up goes on to the missing database: exit 1).
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: m.key)
        let r = try run(m.serveArguments + ["--db-socket", "/nonexistent/db.sock"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertFalse(r.stderr.contains("readable by others"), r.stderr)
        XCTAssertFalse(r.stderr.contains("PRIVATE KEY"), "no key material in what authd prints")
    }

    /// A configuration check only. The hosts are not loopback by their address, yet reach
    /// nothing outside this machine (0.0.0.0 and :: connect locally), so even a regression would
    /// send nothing to the network; names are never resolved for the check (see the store's tests).
    func testPlaintextTCPToARemoteDatabaseIsRefused() throws {
        let hint = "give --db-tls-ca (TLS with a verified certificate), or --db-insecure to allow plaintext"
        for (flags, named) in [(["--db-host", "0.0.0.0", "--db-port", "1"], "0.0.0.0:1"),
                               (["--db-hosts", "127.0.0.1:1,[::]:1"], "[::]:1")] {
            for command in [["migrate"], ["admin", "grant", "a@example.com"]] {
                let r = try run(command + flags)
                XCTAssertEqual(r.status, 78, "\(flags): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("plaintext TCP to the database host \(named), which is not loopback: \(hint)"), r.stderr)
            }
        }
        let bad = try run(["migrate", "--db-host", "0.0.0.0", "--db-port", "1"], environment: ["AUTH_DB_INSECURE": "yes"])
        XCTAssertEqual(bad.status, 78)
        XCTAssertTrue(bad.stderr.contains("AUTH_DB_INSECURE must be 1 or 0"), bad.stderr)
        let missing = try run(["migrate", "--db-host", "0.0.0.0", "--db-port", "1", "--db-tls-ca", "/nonexistent/ca.pem"])
        XCTAssertEqual(missing.status, 78)
        XCTAssertTrue(missing.stderr.contains("cannot read the database CA file /nonexistent/ca.pem"), missing.stderr)
    }

    /// `authd migrate` against a MariaDB of its own on 127.0.0.1 with a certificate: verified
    /// against the right CA it works (from the flag or AUTH_DB_TLS_CA); another CA is refused
    /// with the reason.
    func testAuthdReachesMariaDBOverVerifiedTLS() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("dbtls-e2e")
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = try ServerTLSFiles.make(in: directory, names: ["DNS:localhost", "IP:127.0.0.1"])
        let other = try ServerTLSFiles.make(in: directory, names: ["IP:127.0.0.1"], prefix: "other")
        let db = try PrivateMariaDB.create(tls: tls)
        defer { db.destroy() }
        try db.sql("CREATE DATABASE auth_e2e")
        let settings = db.tcpSettings(database: "auth_e2e")
        let flags = ["migrate", "--db-host", "127.0.0.1", "--db-port", String(settings.port!), "--db-user", settings.user,
                     "--db-name", "auth_e2e"]
        let env = ["AUTH_DB_PASSWORD": settings.password]

        let ok = try run(flags + ["--db-tls-ca", tls.caFile], environment: env)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let byVariable = try run(flags, environment: env.merging(["AUTH_DB_TLS_CA": tls.caFile]) { a, _ in a })
        XCTAssertEqual(byVariable.status, 0, byVariable.stderr)

        let refused = try run(flags + ["--db-tls-ca", other.caFile], environment: env)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("MariaDB error 2026"), refused.stderr)
        XCTAssertTrue(refused.stderr.lowercased().contains("certificate") || refused.stderr.contains("TLS"), refused.stderr)
        XCTAssertFalse(refused.stderr.contains(settings.password))
    }
}
