import AuthCore
import Foundation
@testable import MariaDBStore
import TestSupport
import XCTest

/// What the server would log of a store error never carries the values of the statement: MariaDB
/// quotes the duplicate key ("Duplicate entry 'alice@…' for key 'users_email_key'"), and the
/// store keeps the rest of the message but not the value.
final class StoreErrorRedactionTests: XCTestCase {
    func testADuplicateEmailIsNotInTheError() throws {
        let database = try MariaDBTestDatabase(poolSize: 1)
        defer { database.drop() }
        let store = try database.store()
        let email = "secret-\(UUID().uuidString.prefix(8))@example.com".lowercased()
        let result = try store.createUser(NewUser(email: email, emailKey: email, passwordHash: "h", registeredAt: Date()))
        guard case .created = result else { return XCTFail("\(result)") }
        // The row copied by the server itself: the email is in no statement text, only in the
        // server's own error message.
        XCTAssertThrowsError(try store.run(.write) { c in
            try c.execute("""
                INSERT INTO users (email, email_key, password_hash, registered_at_ms)
                SELECT email, email_key, password_hash, registered_at_ms FROM users
                """)
        }) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.kind, .duplicate, "\(error)")
            let text = "\(error)"
            XCTAssertTrue(text.contains("Duplicate entry '…' for key 'users_email_key'"), text)
            XCTAssertFalse(text.lowercased().contains("secret-"), "the email is not in the error: \(text)")
            XCTAssertFalse(String(reflecting: error).lowercased().contains("secret-"), "nor in its debug form")
        }
    }
}
