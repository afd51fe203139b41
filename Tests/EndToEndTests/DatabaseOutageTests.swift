import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// authd on a MariaDB of its own (`PrivateMariaDB`) that the test stops and starts: start-up waits
/// for a database that is not there yet; Health goes NOT_SERVING (within its 1 s staleness bound) and calls that need the database
/// fail UNAVAILABLE within the database timeout while Validate keeps answering from memory; and
/// everything recovers when the database is back.
final class DatabaseOutageTests: XCTestCase {
    func testStartUpWaitsForTheDatabaseAndHealthFollowsIt() throws {
        let db = try PrivateMariaDB.create()
        defer { db.destroy() }
        try db.sql("CREATE DATABASE auth_outage CHARACTER SET utf8mb4")
        db.stop()

        // authd starts before the database: it retries with backoff, then listens once it answers.
        let restart = DispatchWorkItem { try? db.start() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 1.5, execute: restart)
        let authd = try AuthdProcess.start(arguments: ["--db-timeout", "2", "--db-wait", "40", "--revocation-poll-ms", "200",
                                                       // Validate answering from memory within the bound; past it is RevocationOutageTests.
                                                       "--revocation-max-staleness", "120"],
                                           database: db.settings(database: "auth_outage"), createDatabase: false, timeout: 60)
        defer { authd.stop() }
        restart.wait()
        XCTAssertTrue(authd.log.contains("database not reachable yet; retrying"), authd.log(tail: 20))

        let connection = try authd.connect()
        defer { connection.close() }
        let client = Auth.Client(transport: connection)
        let email = uniqueEmail("outage"), password = "pw-\(UUID().uuidString)"
        let tokens = try client.register(RegisterRequest(email: email, password: password))
        let loggedOut = try client.login(LoginRequest(email: email, password: password))
        _ = try client.logout(LogoutRequest(), options: .bearer(loggedOut.token))
        XCTAssertEqual(try client.health(HealthRequest()).status, .serving)

        // The database goes away: Health (served from the state authd's probe keeps, at most 1 s
        // old) says NOT_SERVING within that bound, and answers at once.
        db.stop()
        let started = Date()
        var down = HealthReply.ServingStatus.serving
        try waitUntil(timeout: .seconds(5), poll: .milliseconds(50)) {
            let t0 = Date()
            down = try client.health(HealthRequest()).status
            XCTAssertLessThan(Date().timeIntervalSince(t0), 0.5, "Health never waits on the database")
            return down == .notServing
        }
        XCTAssertEqual(down, .notServing)
        // The bound plus a margin for a loaded 2-core machine ("never" runs into the 5 s above).
        XCTAssertLessThan(Date().timeIntervalSince(started), 1 + 1.5, "NOT_SERVING within the 1 s staleness bound")
        for _ in 0..<2 {
            let t0 = Date()
            XCTAssertRPCError(try client.login(LoginRequest(email: email, password: password)),
                              .unavailable, "Service temporarily unavailable. Try again.")
            XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "Login gives up within the database timeout")
        }
        XCTAssertRPCError(try client.status(StatusRequest(), options: .bearer(tokens.token)), .unavailable)
        XCTAssertRPCError(try client.register(RegisterRequest(email: uniqueEmail(), password: password)), .unavailable)
        XCTAssertRPCError(try client.refresh(RefreshRequest(refreshToken: tokens.refreshToken)), .unavailable)
        XCTAssertRPCError(try client.logout(LogoutRequest(), options: .bearer(tokens.token)), .unavailable)
        // Validate never touches the database: within the staleness bound it still knows valid,
        // revoked and invalid tokens.
        let valid = try client.validate(ValidateRequest(token: tokens.token))
        XCTAssertTrue(valid.valid)
        XCTAssertEqual(valid.userId, tokens.userId)
        XCTAssertEqual(try client.validate(ValidateRequest(token: loggedOut.token)).refusal, .revoked)
        XCTAssertEqual(try client.validate(ValidateRequest(token: "junk")).refusal, .invalid)
        XCTAssertEqual(try client.health(HealthRequest()).status, .notServing)

        // The database comes back: Health and the calls recover without restarting authd.
        try db.start()
        var status = HealthReply.ServingStatus.notServing
        try waitUntil(timeout: .seconds(20), poll: .milliseconds(200)) {
            status = try client.health(HealthRequest()).status
            return status == .serving
        }
        XCTAssertEqual(status, .serving)
        let again = try client.login(LoginRequest(email: email, password: password))
        XCTAssertTrue(try client.validate(ValidateRequest(token: again.token)).valid)
        XCTAssertEqual(try client.status(StatusRequest(), options: .bearer(again.token)).email, email)

        XCTAssertEqual(authd.stop(), 0, authd.log(tail: 20))
        let log = authd.log
        XCTAssertTrue(log.contains("code=UNAVAILABLE"), "failed calls are logged with their code")
        assertNoSecrets(in: log, [password, tokens.token, tokens.refreshToken, loggedOut.token, again.token, authd.secret, db.password])
    }

    /// A database that never comes: authd gives up after --db-wait and says why, exit status 1.
    func testAnUnreachableDatabaseIsReportedClearly() throws {
        let material = try TestMaterial.make()
        defer { try? FileManager.default.removeItem(at: material.directory) }
        let started = Date()
        let result = try AuthdProcess.run(material.serveArguments + ["--db-socket", "/nonexistent/mariadb.sock", "--db-wait", "1"],
                                          environment: ["AUTH_DB_PASSWORD": "x"], timeout: 30)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 15)
        XCTAssertTrue(result.stderr.contains("database unix:/nonexistent/mariadb.sock unavailable"), result.stderr)
        XCTAssertTrue(result.stderr.contains("retrying"), "the retries are logged: \(result.stderr)")
    }
}
