import AuthCore
import Foundation
@testable import MariaDBStore
import TestSupport
import XCTest

/// A flood of failed logins must not grow the database without bound: a refused attempt writes
/// no throttle row, expired buckets and attempts are purged, and the audit rows of refused
/// attempts are aggregated. Counted in the tables themselves.
final class ThrottleGrowthTests: XCTestCase {
    var database: MariaDBTestDatabase!

    override func setUpWithError() throws {
        database = try MariaDBTestDatabase(poolSize: 2)
    }

    override func tearDown() {
        database?.drop()
    }

    private func core(_ store: MariaDBStore, clock: TestClock) throws -> AuthCore {
        var c = AuthConfiguration(signingKeys: ["k1": Array("0123456789abcdef0123456789abcdef-growth".utf8)], activeKeyID: "k1")
        c.passwordHashing = Argon2Parameters(memoryKiB: 64, iterations: 1)
        return try AuthCore(configuration: c, store: store, now: clock.function)
    }

    private func count(_ table: String, _ store: MariaDBStore) throws -> Int64 {
        try store.run { c in try c.execute(Statement(verbatim: "SELECT COUNT(*) AS n FROM \(table)")).rows.first?["n"] ?? -1 }
    }

    private func counts(_ store: MariaDBStore) throws -> (buckets: Int64, attempts: Int64, audit: Int64) {
        (try count("throttle_buckets", store), try count("login_attempts", store), try count("audit_events", store))
    }

    /// 2,000 failed logins against one account from one address (default policy): 10 are checked
    /// (10 per account and address per 15 minutes), each recording an attempt in its 3 buckets.
    /// Bound: 3 bucket rows, 30 attempt rows, 1 + 10 + 1 audit rows (register, failures, one
    /// aggregated refusal).
    func testFailedLoginsAgainstOneAccountLeaveBoundedRows() throws {
        let store = try database.store(), clock = TestClock()
        let core = try core(store, clock: clock)
        _ = try core.register(email: "target@example.com", password: "a long passphrase", clientAddress: nil)
        for i in 0..<2000 {
            _ = try? core.login(email: "target@example.com", password: "guess number \(i)", clientAddress: "198.51.100.66")
        }
        let after = try counts(store)
        XCTAssertLessThanOrEqual(after.buckets, 3 + 1, "throttle bucket rows")
        XCTAssertLessThanOrEqual(after.attempts, 30 + 1, "attempt rows")
        XCTAssertLessThanOrEqual(after.audit, 1 + 10 + 1, "audit rows")
    }

    /// 2,000 failed logins for 2,000 different (unknown) emails from one address: 100 are checked
    /// (the per-address limit); the 1,900 refused ones must not leave a bucket row each. Bound:
    /// 201 bucket rows (the address, and an account and a pair bucket per checked attempt), 300
    /// attempt rows, 100 + 1 audit rows. An hour later the poller's purge empties both throttle
    /// tables.
    func testFailedLoginsForManyEmailsLeaveBoundedRowsAndArePurged() throws {
        let store = try database.store(), clock = TestClock()
        let core = try core(store, clock: clock)
        for i in 0..<2000 {
            _ = try? core.login(email: "nobody\(i)@example.com", password: "guess guess", clientAddress: "198.51.100.67")
        }
        let after = try counts(store)
        XCTAssertLessThanOrEqual(after.buckets, 201, "throttle bucket rows")
        XCTAssertLessThanOrEqual(after.attempts, 300, "attempt rows")
        XCTAssertLessThanOrEqual(after.audit, 100 + 1, "audit rows")

        clock.advance(3601)
        try core.pollRevocations()  // purges: the first poll always does
        let purged = try counts(store)
        XCTAssertEqual(purged.buckets, 0, "expired throttle buckets left")
        XCTAssertEqual(purged.attempts, 0, "expired attempts left")
    }
}
