import AuthCore
import Foundation
@testable import MariaDBStore
import XCTest

/// Statements, rows and driver errors without a server: parameters follow their placeholders,
/// columns are read by name and type, and a value the server quotes never reaches an error.
final class StatementTests: XCTestCase {
    func testInterpolatedParametersBecomePlaceholdersInOrder() {
        let statement: Statement<(userID: Int64, address: String, at: Date)> =
            "SELECT 1 FROM t WHERE address = \(\.address) AND user_id = \(\.userID) AND at_ms >= \(\.at.millisecondsSince1970)"
        XCTAssertEqual(statement.sql, "SELECT 1 FROM t WHERE address = ? AND user_id = ? AND at_ms >= ?")
        XCTAssertEqual(statement.parameterCount, 3)
        XCTAssertEqual(statement.values((7, "10.0.0.1", Date(timeIntervalSince1970: 1.5))), [.text("10.0.0.1"), .int(7), .int(1500)])
    }

    func testFragmentsAreSplicedAndOptionalsBindNull() {
        let columns = "a, b"
        let statement: Statement<AuditEvent> = "SELECT \(sql: columns) FROM t WHERE user_id = \(\.userID) OR email = \(\.email)"
        XCTAssertEqual(statement.sql, "SELECT a, b FROM t WHERE user_id = ? OR email = ?")
        XCTAssertEqual(statement.values(AuditEvent(at: Date(), kind: .logout)), [.null, .null])
    }

    func testEveryStoreStatementHasAsManyPlaceholdersAsParameters() {
        // The server checks this too when it prepares one; here every statement, without a server.
        let statements: [(String, Int)] = [
            (SQL.insertUser.sql, SQL.insertUser.parameterCount), (SQL.insertRefreshToken.sql, SQL.insertRefreshToken.parameterCount),
            (SQL.insertAudit.sql, SQL.insertAudit.parameterCount), (SQL.revokeToken.sql, SQL.revokeToken.parameterCount),
            (SQL.recordKnownAddress.sql, SQL.recordKnownAddress.parameterCount),
            (SQL.attemptAtOffset.sql, SQL.attemptAtOffset.parameterCount),
            (SQL.insertAggregatedAudit.sql, SQL.insertAggregatedAudit.parameterCount),
            (SQL.reserveThrottleBucket.sql, SQL.reserveThrottleBucket.parameterCount),
            (SQL.usersPage.sql, SQL.usersPage.parameterCount), (SQL.auditPage.sql, SQL.auditPage.parameterCount),
            (SQL.setDisabledCutoff.sql, SQL.setDisabledCutoff.parameterCount),
            (SQL.setResetCode.sql, SQL.setResetCode.parameterCount),
        ]
        for (sql, count) in statements {
            XCTAssertEqual(sql.filter { $0 == "?" }.count, count, sql)
        }
        XCTAssertEqual(SQL.insertRefreshToken.parameterCount, 8)
    }

    func testRowsAreReadByNameWithTheirType() throws {
        let row = Row(names: ["id", "email", "jti", "used_at_ms"],
                      values: [.int(4), .text("a@example.com"), .bytes(Array(repeating: 1, count: 16)), .null])
        XCTAssertEqual(try row["email"] as String, "a@example.com")
        XCTAssertEqual(try row["id"] as Int64, 4)
        XCTAssertEqual(try row["jti"] as TokenID, TokenID(bytes: Array(repeating: 1, count: 16)))
        XCTAssertNil(try row["used_at_ms"] as Int64?)
        XCTAssertThrowsError(try row["id"] as String) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .failure)
        }
        XCTAssertThrowsError(try row["used_at_ms"] as Int64, "NULL where a value is required")
        XCTAssertThrowsError(try row["missing"] as Int64) { error in
            XCTAssertTrue("\(error)".contains("no column missing"), "\(error)")
        }
    }

    func testDriverErrorsAreClassifiedByNumber() {
        XCTAssertEqual(MariaDBError(number: .serverGone, message: "gone").kind, .unavailable)
        XCTAssertEqual(MariaDBError(number: .deadlock, message: "deadlock").kind, .conflict)
        XCTAssertEqual(MariaDBError(number: .lockWaitTimeout, message: "timeout").kind, .conflict)
        XCTAssertEqual(MariaDBError(number: .duplicateEntry, message: "dup").kind, .duplicate)
        XCTAssertEqual(MariaDBError(number: MariaDBErrorNumber(rawValue: 1146), message: "no table").kind, .failure)
        let error = StoreError("INSERT INTO users", MariaDBError(number: .duplicateEntry, message: "dup"))
        XCTAssertEqual(error.kind, .duplicate)
        XCTAssertEqual((error.cause as? MariaDBError)?.number, .duplicateEntry)
    }

    func testAMigrationInterruptedByAnotherNodesSchemaChangeIsRetried() {
        // Galera aborts a local ALTER that collides with one replicated from another node (1317).
        let interrupted = StoreError("ALTER TABLE refresh_tokens", MariaDBError(number: .queryInterrupted, message: "interrupted"))
        XCTAssertEqual(interrupted.kind, .failure, "not a conflict for ordinary transactions")
        XCTAssertTrue(MariaDBStore.mayRetryMigration(interrupted))
        XCTAssertTrue(MariaDBStore.mayRetryMigration(StoreError("UPDATE", MariaDBError(number: .deadlock, message: "deadlock"))))
        XCTAssertFalse(MariaDBStore.mayRetryMigration(StoreError("ALTER", MariaDBError(number: MariaDBErrorNumber(rawValue: 1146), message: "no table"))))
    }

    func testQuotedValuesAreLeftOutOfDriverMessages() {
        let duplicate = MariaDBError(number: .duplicateEntry, message: "Duplicate entry 'it's-a-secret' for key 'PRIMARY'")
        XCTAssertEqual(duplicate.message, "Duplicate entry '…' for key 'PRIMARY'")
        let named = MariaDBError(number: .duplicateEntryWithKeyName, message: "Duplicate entry 'it's-a-secret' for key 'token_hash'")
        XCTAssertEqual(named.message, "Duplicate entry '…' for key 'token_hash'")
        XCTAssertEqual(named.kind, .duplicate)
        let incorrect = MariaDBError(number: MariaDBErrorNumber(rawValue: 1366),
                                     message: "Incorrect string value: '\\xF0\\x9F' for column `db`.`users`.`email` at row 1")
        XCTAssertEqual(incorrect.message, "Incorrect string value: '…' for column `db`.`users`.`email` at row 1")
        let other = MariaDBError(number: .serverGone, message: "Server 'x' has gone away")
        XCTAssertEqual(other.message, "Server 'x' has gone away", "only messages that quote a value are changed")
    }

    func testTruncationCountsCharactersAsMariaDBDoes() {
        let accented = String(repeating: "e\u{301}", count: 10)  // 10 Swift characters, 20 Unicode scalars
        XCTAssertEqual(accented.truncated(to: 5).unicodeScalars.count, 5)
        XCTAssertEqual("short".truncated(to: 80), "short")
    }
}
