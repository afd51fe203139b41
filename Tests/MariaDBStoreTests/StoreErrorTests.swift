import AuthCore
import Foundation
@testable import MariaDBStore
import TestSupport
import XCTest

/// What the store throws: `StoreError` only, with the driver's error as its cause, the kind the
/// core decides on, and no secret in its text.
final class StoreErrorTests: XCTestCase {
    var database: MariaDBTestDatabase!

    override func setUpWithError() throws {
        database = try MariaDBTestDatabase(poolSize: 2)
    }

    override func tearDown() {
        database?.drop()
    }

    /// authd retries start-up while the database is unavailable: a refused connection during
    /// `migrate()` must surface as `.unavailable`, not as some other error.
    func testRefusedConnectionDuringMigrateIsUnavailable() throws {
        var configuration = database.configuration
        configuration.endpoints = [MariaDBConfiguration.Endpoint(socket: "/nonexistent/mariadb.sock")]
        let store = MariaDBStore(configuration: configuration)
        do {
            try store.migrate()
            XCTFail("migrated without a server")
        } catch {
            XCTAssertEqual(error.kind, .unavailable, "\(error)")
            XCTAssertEqual((error.cause as? MariaDBError)?.number, .connectionError, "\(error)")
            XCTAssertFalse("\(error)".contains(configuration.password), "no password in the error")
        }
        let untyped: any Error = StoreError(.unavailable, "x")
        XCTAssertTrue(untyped is StoreError)
    }

    func testDuplicateKeyIsADuplicateWithoutTheValue() throws {
        let store = try database.store()
        let hash = Array("refresh-token-hash-kept-secret!!".utf8)
        let token = RefreshTokenRecord(hash: hash, family: .random(), userID: 1, issuedAt: Date(), expiresAt: Date().addingTimeInterval(60))
        try store.insertRefreshToken(token)
        do {
            try store.insertRefreshToken(token)
            XCTFail("the same hash stored twice")
        } catch {
            XCTAssertEqual(error.kind, .duplicate)
            let cause = try XCTUnwrap(error.cause as? MariaDBError)
            XCTAssertEqual(cause.number, .duplicateEntry)
            XCTAssertTrue(cause.message.contains("PRIMARY"), cause.message)
            XCTAssertFalse("\(error)".contains("kept-secret"), "the token hash is not in the error: \(error)")
            XCTAssertTrue(error.message.hasPrefix("INSERT INTO refresh_tokens"), error.message)
        }
        // The core sees a duplicate refresh token as an internal error, never as a taken email.
        let user = NewUser(email: "d@example.com", emailKey: "d@example.com", passwordHash: "h", registeredAt: Date())
        XCTAssertThrowsError(try store.createUser(user, firstRefreshToken: token)) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .duplicate)
        }
        XCTAssertNil(try store.user(emailKey: "d@example.com"), "rolled back with the refresh token")
    }

    func testStatementErrorsKeepTheDriverMessageAsCause() throws {
        let store = try database.store()
        XCTAssertThrowsError(try store.run { c in try c.execute("SELECT nope FROM users") }) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.kind, .failure)
            XCTAssertEqual(e?.message, "SELECT nope FROM users")
            XCTAssertEqual((e?.cause as? MariaDBError)?.number.rawValue, 1054, "\(error)")  // ER_BAD_FIELD_ERROR
            XCTAssertTrue("\(error)".contains("Unknown column"), "\(error)")
        }
    }
}
