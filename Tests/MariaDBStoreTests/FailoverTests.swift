import AuthCore
import Foundation
@testable import MariaDBStore
import TestSupport
import XCTest

/// What the store retries after a lost connection and what it must not: a write lost before its
/// COMMIT was sent is rerun; one lost while committing is reported as of unknown outcome and never
/// rerun. Also the revocation feed's overlap (rows that arrive late are still read) and the
/// atomic registration. The Galera cluster itself is exercised by scripts/test-galera.
final class FailoverTests: XCTestCase {
    var database: MariaDBTestDatabase!
    var databaseName: String { database.name }
    var configuration: MariaDBConfiguration { database.configuration }

    override func setUpWithError() throws {
        database = try MariaDBTestDatabase(poolSize: 2)
    }

    override func tearDown() {
        database?.drop()
    }

    private func migratedStore() throws -> MariaDBStore {
        let store = MariaDBStore(configuration: configuration)
        try store.migrate()
        try store.run { c in try c.execute("CREATE TABLE probe (id INT PRIMARY KEY) ENGINE=InnoDB") }
        return store
    }

    private func connectionID(_ c: MariaDBConnection) throws -> Int64 {
        try XCTUnwrap(try c.execute("SELECT CONNECTION_ID() AS id").rows.first?["id"])
    }

    private func rows(_ store: MariaDBStore) throws -> Int64 {
        try store.run { c in try c.execute("SELECT COUNT(*) AS n FROM probe").rows.first?["n"] ?? -1 }
    }

    func testWriteWhoseConnectionIsLostBeforeCommitIsRerunOnce() throws {
        let store = try migratedStore(), killer = MariaDBStore(configuration: configuration)
        var runs = 0
        try store.run(.write) { c in
            runs += 1
            if runs == 1 {
                let id = try connectionID(c)
                try killer.run { k in try k.execute(Statement(verbatim: "KILL CONNECTION \(id)")) }
            }
            try c.execute("INSERT INTO probe VALUES (1)")
        }
        XCTAssertEqual(runs, 2, "rerun on a new connection: nothing had been committed")
        XCTAssertEqual(try rows(store), 1)
    }

    func testWriteWhoseCommitIsNotConfirmedIsUnknownAndNotRerun() throws {
        let store = try migratedStore(), killer = MariaDBStore(configuration: configuration)
        var runs = 0
        XCTAssertThrowsError(try store.run(.write) { c in
            runs += 1
            try c.execute("INSERT INTO probe VALUES (2)")
            // The connection dies after the statement: the COMMIT that follows gets no answer.
            let id = try connectionID(c)
            try killer.run { k in try k.execute(Statement(verbatim: "KILL CONNECTION \(id)")) }
        }) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.kind, .unavailable)
            XCTAssertEqual(e?.outcomeUnknown, true, "\(error)")
        }
        XCTAssertEqual(runs, 1, "a write whose commit may have happened is never rerun")
        // The core answers UNAVAILABLE with a message that says so.
        let mapped = AuthError.storeUnavailable(StoreError(.unavailable, "x", outcomeUnknown: true))
        XCTAssertTrue(mapped.message.contains("may or may not"))
    }

    func testReadsAreRerunAfterALostConnection() throws {
        let store = try migratedStore(), killer = MariaDBStore(configuration: configuration)
        var runs = 0
        let n = try store.run(.read) { c -> Int64 in
            runs += 1
            if runs == 1 {
                let id = try connectionID(c)
                try killer.run { k in try k.execute(Statement(verbatim: "KILL CONNECTION \(id)")) }
            }
            return try c.execute("SELECT COUNT(*) AS n FROM probe").rows.first?["n"] ?? -1
        }
        XCTAssertEqual(n, 0)
        XCTAssertEqual(runs, 2)
    }

    func testEndpointThatFailedIsTriedLast() throws {
        var c = configuration
        c.endpoints.insert(MariaDBConfiguration.Endpoint(host: "127.0.0.1", port: 1), at: 0)  // refuses at once
        let store = MariaDBStore(configuration: c)
        XCTAssertEqual(store.pool.endpointOrder(), [0, 1])
        try store.migrate()
        XCTAssertEqual(store.pool.endpointOrder(), [1, 0], "the refusing endpoint is held back")
        XCTAssertNil(try store.user(id: 1))
    }

    func testRevocationFeedReadsRowsThatArriveWithAnEarlierTimestamp() throws {
        let store = try migratedStore()
        let now = Date()
        let first = try store.revocations(since: nil, now: now)
        XCTAssertTrue(first.tokens.isEmpty)
        let cursor = try store.revocations(since: first.next, now: now).next
        // A row committed on another node after our last poll, stamped by that node 5 s before it
        // (a slow commit, a lagging node, another node's clock): still inside the overlap.
        let late = TokenID.random(), tooLate = TokenID.random()
        let exp = Int64(now.timeIntervalSince1970) + 600
        try store.run(.write) { c in
            let insert: Statement<(id: TokenID, expiresAt: Int64, recordedUs: Int64)> =
                "INSERT INTO revoked_tokens (jti, user_id, expires_at, recorded_us) VALUES (\(\.id), 1, \(\.expiresAt), \(\.recordedUs))"
            try c.execute(insert, (late, exp, cursor.value - 5_000_000))
            try c.execute(insert, (tooLate, exp, cursor.value - MariaDBStore.feedOverlapMicroseconds - 1_000_000))
        }
        let batch = try store.revocations(since: cursor, now: now)
        XCTAssertEqual(batch.tokens.map(\.id), [late], "inside the overlap: read; beyond it: the documented bound")
        // Read again by the next poll (still inside the overlap): merged idempotently by the cache.
        XCTAssertEqual(try store.revocations(since: batch.next, now: now).tokens.map(\.id), [late])
    }

    func testRegistrationStoresUserAndRefreshTokenTogetherOrNeither() throws {
        let store = try migratedStore()
        let token = RefreshTokenRecord(hash: [UInt8](repeating: 7, count: 32), family: .random(), userID: 0,
                                       issuedAt: Date(), expiresAt: Date().addingTimeInterval(60))
        let user = NewUser(email: "a@example.com", emailKey: "a@example.com", passwordHash: "h", registeredAt: Date())
        guard case .created(let id) = try store.createUser(user, firstRefreshToken: token) else { return XCTFail("not created") }
        let owner: Int64? = try store.run { c in try c.execute("SELECT user_id FROM refresh_tokens").rows.first?["user_id"] }
        XCTAssertEqual(owner, id)
        // Same refresh-token hash again: the second insert fails, so the user is not stored either.
        let other = NewUser(email: "b@example.com", emailKey: "b@example.com", passwordHash: "h", registeredAt: Date())
        XCTAssertThrowsError(try store.createUser(other, firstRefreshToken: token))
        XCTAssertNil(try store.user(emailKey: "b@example.com"))
        XCTAssertEqual(try store.createUser(user, firstRefreshToken: token), .emailTaken)
    }
}
