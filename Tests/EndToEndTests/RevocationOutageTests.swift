import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// Validation fails closed: with the database stopped, authd cannot read the revocation feed, so
/// past `--revocation-max-staleness` it answers Validate with UNAVAILABLE (it may be missing
/// another instance's logouts) and Health NOT_SERVING; both recover when the database is back.
final class RevocationOutageTests: XCTestCase {
    func testValidateIsUnavailablePastTheStalenessBoundWhileTheDatabaseIsDown() throws {
        let db = try PrivateMariaDB.create()
        defer { db.destroy() }
        try db.sql("CREATE DATABASE auth_revocation_outage CHARACTER SET utf8mb4")
        let authd = try AuthdProcess.start(arguments: ["--db-timeout", "1", "--revocation-poll-ms", "200",
                                                       "--revocation-max-staleness", "2"],
                                           database: db.settings(database: "auth_revocation_outage"), createDatabase: false, timeout: 60)
        defer { authd.stop() }
        let connection = try authd.connect()
        defer { connection.close() }
        let client = Auth.Client(transport: connection)
        let password = "pw-\(UUID().uuidString)"
        let tokens = try client.register(RegisterRequest(email: uniqueEmail("stale"), password: password))
        XCTAssertTrue(try client.validate(ValidateRequest(token: tokens.token)).valid)

        db.stop()
        let stopped = Date()
        var error: RPCError?
        _ = waitUntil(timeout: .seconds(15), poll: .milliseconds(50)) {
            do {
                _ = try client.validate(ValidateRequest(token: tokens.token))
                return false
            } catch let e as RPCError {
                error = e
                return true
            } catch {
                return false
            }
        }
        XCTAssertEqual(error?.code, .unavailable, "Validate never failed closed")
        // The 2 s bound plus a margin for a loaded 2-core machine.
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 2 + 2, "UNAVAILABLE within the staleness bound")
        XCTAssertEqual(try client.health(HealthRequest()).status, .notServing)
        XCTAssertEqual(try client.validate(ValidateRequest(token: "junk")).refusal, .invalid)

        try db.start()
        XCTAssertTrue(waitUntil(timeout: .seconds(30), poll: .milliseconds(200)) {
            (try? client.validate(ValidateRequest(token: tokens.token)).valid) == true
        }, "Validate never answered again")
        XCTAssertTrue(waitUntil(timeout: .seconds(10), poll: .milliseconds(100)) {
            (try? client.health(HealthRequest()).status) == .serving
        })
        XCTAssertEqual(authd.stop(), 0, authd.log(tail: 20))
        assertNoSecrets(in: authd.log, [password, tokens.token, tokens.refreshToken, authd.secret, db.password])
    }
}
