import AuthCore
import Foundation
@testable import MariaDBStore
import TestSupport
import XCTest

/// The migrated schema agrees with `ColumnWidth`, and what the store truncates fits.
final class SchemaTests: XCTestCase {
    var database: MariaDBTestDatabase!

    override func setUpWithError() throws {
        database = try MariaDBTestDatabase(poolSize: 2)
    }

    override func tearDown() {
        database?.drop()
    }

    func testEveryTextColumnHasTheWidthOfItsConstant() throws {
        let store = try database.store()
        let expected: [String: Int] = [
            "users.email": ColumnWidth.email, "users.email_key": ColumnWidth.email,
            "users.password_hash": ColumnWidth.passwordHash,
            "throttle_buckets.bucket": ColumnWidth.throttleBucket, "login_attempts.bucket": ColumnWidth.throttleBucket,
            "known_addresses.address": ColumnWidth.clientAddress,
            "audit_events.event": ColumnWidth.auditEvent, "audit_events.email": ColumnWidth.email,
            "audit_events.client_address": ColumnWidth.clientAddress, "audit_events.detail": ColumnWidth.auditDetail,
            "signing_keys.kid": ColumnWidth.keyID, "signing_keys.alg": ColumnWidth.keyAlgorithm,
            "schema_migrations.name": ColumnWidth.migrationName, "refresh_tokens.client_address": ColumnWidth.clientAddress,
            "service_accounts.client_id": ColumnWidth.clientID, "service_accounts.scopes": ColumnWidth.scopeList,
            "service_accounts.cert_subject": ColumnWidth.certificateName, "service_accounts.cert_uri_san": ColumnWidth.certificateName,
            "user_roles.role": ColumnWidth.role,
        ]
        let columns: Statement<Void> = """
            SELECT CONCAT(table_name, '.', column_name) AS name, CAST(character_maximum_length AS SIGNED) AS width
            FROM information_schema.columns WHERE table_schema = DATABASE() AND data_type = 'varchar'
            """
        var actual: [String: Int] = [:]
        for row in try store.run(.read, { c in try c.execute(columns).rows }) {
            actual[try row["name"]] = Int(try row["width"] as Int64)
        }
        XCTAssertEqual(actual, expected, "a VARCHAR column without its constant, or a width that differs")
    }

    /// VARCHAR widths count Unicode scalars; a Swift `Character` can hold several.
    func testTruncatedAuditTextFitsItsColumn() throws {
        let store = try database.store()
        let detail = String(repeating: "e\u{301}", count: 200)  // 200 characters, 400 scalars
        let address = String(repeating: "a\u{301}", count: 60)
        try store.appendAudit(AuditEvent(at: Date(), kind: .logout, userID: 9, clientAddress: address, detail: detail))
        let stored = try XCTUnwrap(try store.auditEvents(userID: 9, limit: 1).first)
        XCTAssertEqual(stored.detail?.unicodeScalars.count, ColumnWidth.auditDetail)
        XCTAssertEqual(stored.clientAddress?.unicodeScalars.count, ColumnWidth.clientAddress)
        // Known addresses are ASCII (normalised IP addresses); a longer one is cut the same way on
        // the way in and when looked up.
        let long = String(repeating: "1", count: ColumnWidth.clientAddress + 20)
        try store.recordLoginSuccess(userID: 9, address: long, at: Date())
        XCTAssertTrue(try store.isKnownAddress(userID: 9, address: long, since: Date().addingTimeInterval(-60)))
    }
}
