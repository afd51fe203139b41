import Foundation
import TestSupport
import XCTest

/// authd refuses to start on a TLS private key others may read.
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
}
