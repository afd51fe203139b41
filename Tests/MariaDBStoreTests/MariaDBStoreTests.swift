import AuthCore
import Foundation
import Support
@testable import MariaDBStore
import RPCCore
import TestSupport
import XCTest

/// The MariaDB store's own concerns: migrations under a named lock, fast failure when the server
/// cannot be reached, reconnection, utf8mb4, pool bounds, atomic throttling across instances, and
/// two core instances following each other's revocations within the stated bound.
final class MariaDBStoreTests: XCTestCase {
    var database: MariaDBTestDatabase!
    var databaseName: String { database.name }
    var configuration: MariaDBConfiguration { database.configuration }

    override func setUpWithError() throws {
        database = try MariaDBTestDatabase(poolSize: 4)
    }

    override func tearDown() {
        database?.drop()
    }

    func migratedStore(poolSize: Int = 4) throws -> MariaDBStore {
        var c = configuration
        c.poolSize = poolSize
        let store = MariaDBStore(configuration: c)
        try store.migrate()
        return store
    }

    /// Runs `body` on `count` threads released together; waits at most `timeout`.
    func concurrently(_ count: Int, timeout: TimeInterval = 60, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup(), gate = DispatchSemaphore(value: 0)
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread { gate.wait(); body(i); group.leave() }
        }
        for _ in 0..<count { gate.signal() }
        XCTAssertEqual(group.wait(timeout: .now() + timeout), .success)
    }

    func testMigrationsRunOnceWhenInstancesStartTogether() throws {
        let applied = Locked<[[Int]]>([])
        let failures = Locked<[String]>([])
        let configuration = self.configuration
        concurrently(4) { _ in
            do {
                let versions = try MariaDBStore(configuration: configuration).migrate()
                applied.withLock { $0.append(versions) }
            } catch { failures.withLock { $0.append("\(error)") } }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertEqual(applied.withLock { $0.filter { !$0.isEmpty } }, [Migrations.all.map(\.version)])
        XCTAssertEqual(applied.withLock { $0.count }, 4)
        let store = MariaDBStore(configuration: configuration)
        XCTAssertEqual(try store.appliedMigrations(), Migrations.all.map(\.version))
        XCTAssertEqual(try store.migrate(), [])
        let tables = try store.run { c in
            try c.execute("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()").rows
                .map { row in try row["name"] as String }
        }
        XCTAssertEqual(Set(tables), ["schema_migrations", "users", "revoked_tokens", "user_token_cutoffs", "refresh_tokens",
                                     "throttle_buckets", "login_attempts", "known_addresses", "audit_events", "revoked_sessions",
                                     "reset_codes", "signing_keys", "service_accounts", "user_roles"])
    }

    func testUnreachableServerFailsFastAsUnavailable() throws {
        let s = try TestEnvironment.database()
        for endpoint in [MariaDBConfiguration.Endpoint(socket: "/nonexistent/mariadb.sock"),
                         MariaDBConfiguration.Endpoint(host: "127.0.0.1", port: 1)] {
            let store = MariaDBStore(configuration: MariaDBConfiguration(endpoints: [endpoint], user: s.user, password: s.password,
                                                                        database: databaseName, connectTimeout: 2))
            let start = Date()
            XCTAssertThrowsError(try store.user(id: 1)) { error in
                XCTAssertEqual((error as? StoreError)?.kind, .unavailable, "\(error)")
                XCTAssertFalse("\(error)".contains(s.password), "no password in the error")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 2.5)
            XCTAssertFalse(store.isHealthy())
            let core = try AuthCore(configuration: AuthConfiguration(signingKeys: ["k": Array(repeating: 1, count: 32)], activeKeyID: "k"),
                                    store: store)
            XCTAssertFalse(core.health())
            do {
                _ = try core.login(email: "a@example.com", password: "whatever pass", clientAddress: nil)
                XCTFail("no error")
            } catch {
                XCTAssertEqual(error.code, .storeUnavailable)
            }
            XCTAssertThrowsError(try core.start())
        }
        // Fail-over: a dead endpoint first, then the real one.
        var failover = configuration
        failover.endpoints.insert(MariaDBConfiguration.Endpoint(socket: "/nonexistent/mariadb.sock"), at: 0)
        XCTAssertEqual(try MariaDBStore(configuration: failover).migrate(), Migrations.all.map(\.version))
    }

    func testReconnectsAfterTheConnectionIsKilled() throws {
        let store = try migratedStore(poolSize: 1)
        let first: Int64? = try store.run { c in try c.execute("SELECT CONNECTION_ID() AS id").rows.first?["id"] }
        let id = try XCTUnwrap(first)
        let other = try migratedStore()
        try other.run { c in try c.execute(Statement(verbatim: "KILL CONNECTION \(id)")) }
        // The pooled connection is dead; the store notices, opens a new one and carries on.
        XCTAssertNil(try store.user(id: 12345))
        let second: Int64? = try store.run { c in try c.execute("SELECT CONNECTION_ID() AS id").rows.first?["id"] }
        XCTAssertNotEqual(second, id)
        XCTAssertTrue(store.isHealthy())
    }

    func testUTF8MB4RoundTrips() throws {
        let store = try migratedStore()
        let email = "😀ünï@例え.example"
        guard case .created(let id) = try store.createUser(NewUser(email: email, emailKey: email, passwordHash: "$argon2id$x",
                                                                  registeredAt: Date(timeIntervalSince1970: 1_800_000_000.123))) else {
            return XCTFail("not created")
        }
        let user = try XCTUnwrap(try store.user(emailKey: email))
        XCTAssertEqual(user.id, id)
        XCTAssertEqual(user.email, email)
        XCTAssertEqual(user.registeredAt.timeIntervalSince1970, 1_800_000_000.123, accuracy: 0.0005)
        XCTAssertEqual(try store.createUser(NewUser(email: email, emailKey: email, passwordHash: "h", registeredAt: Date())), .emailTaken)
        let long = String(repeating: "é", count: 300)  // longer than the column: bound, truncated by us
        try store.appendAudit(AuditEvent(at: Date(), kind: .logout, userID: id, detail: "🔒 " + long))
        XCTAssertEqual(try store.auditEvents(userID: id, limit: 1).first?.detail?.hasPrefix("🔒 éé"), true)
    }

    /// A successful login's writes go in one transaction: the attempt released, the address
    /// known, the refresh token stored, the audit row written.
    func testCompleteLoginWritesEverythingAtOnce() throws {
        let store = try migratedStore()
        let now = Date()
        guard case .created(let id) = try store.createUser(NewUser(email: "done@example.com", emailKey: "done@example.com",
                                                                   passwordHash: "$argon2id$x", registeredAt: now)) else {
            return XCTFail("not created")
        }
        let bucket = ThrottleBucket(key: "pair:done", limit: 1, window: 60)
        let attempt = TokenID.random()
        XCTAssertEqual(try store.acquireAttempt(attempt, buckets: [bucket], now: now), .granted)
        if case .granted = try store.acquireAttempt(.random(), buckets: [bucket], now: now) { XCTFail("the limit of 1 is taken") }
        let refresh = RefreshTokenRecord(hash: Array(repeating: 7, count: 32), family: .random(), userID: id,
                                         issuedAt: now, expiresAt: now.addingTimeInterval(3600))
        XCTAssertFalse(try store.isKnownAddress(userID: id, address: "10.1.2.3", since: now.addingTimeInterval(-60)))
        try store.completeLogin(CompletedLogin(attempt: attempt, address: "10.1.2.3", at: now, refreshToken: refresh,
                                               audit: AuditEvent(at: now, kind: .loginSucceeded, userID: id, email: "done@example.com")))
        XCTAssertEqual(try store.acquireAttempt(.random(), buckets: [bucket], now: now), .granted, "the attempt was released")
        XCTAssertTrue(try store.isKnownAddress(userID: id, address: "10.1.2.3", since: now.addingTimeInterval(-60)))
        XCTAssertEqual(try store.auditEvents(userID: id, limit: 1).first?.kind, .loginSucceeded)
        guard case .rotated(let user, let family, _) = try store.rotateRefreshToken(
            presentedHash: refresh.hash, replacementHash: Array(repeating: 8, count: 32),
            replacementExpiresAt: now.addingTimeInterval(3600), now: now,
            onReuse: SessionRevocation.Times(accessTokensUntil: now, purgeAfter: now)) else { return XCTFail("refresh token not stored") }
        XCTAssertEqual(user, id)
        XCTAssertEqual(family, refresh.family)
    }

    func testPoolBoundsConcurrentCallers() throws {
        let store = try migratedStore(poolSize: 2)
        let errors = Locked<Int>(0)
        concurrently(24) { i in
            for _ in 0..<5 {
                do { _ = try store.user(id: Int64(i)) } catch { errors.withLock { $0 += 1 } }
            }
        }
        XCTAssertEqual(errors.withLock { $0 }, 0)
    }

    func testThrottleIsAtomicAcrossInstances() throws {
        let stores = [try migratedStore(), try migratedStore()]
        let granted = Locked<Int>(0), denied = Locked<Int>(0), failed = Locked<[String]>([])
        let bucket = ThrottleBucket(key: "a:shared", limit: 5, window: 3600)
        let now = Date()
        concurrently(30) { i in
            do {
                switch try stores[i % 2].acquireAttempt(.random(), buckets: [bucket, ThrottleBucket(key: "i:\(i)", limit: 100, window: 60)], now: now) {
                case .granted: granted.withLock { $0 += 1 }
                case .denied(let after, _):
                    XCTAssertGreaterThan(after, 3599)
                    denied.withLock { $0 += 1 }
                }
            } catch { failed.withLock { $0.append("\(error)") } }
        }
        XCTAssertEqual(failed.withLock { $0 }, [])
        XCTAssertEqual(granted.withLock { $0 }, 5)
        XCTAssertEqual(denied.withLock { $0 }, 25)
    }

    func testDeadlockedTransactionIsRetried() throws {
        let store = try migratedStore()
        try store.run { c in
            try c.execute("CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB")
            try c.execute("INSERT INTO counters VALUES (1, 0), (2, 0)")
        }
        let bodies = Locked<Int>(0), failures = Locked<[String]>([])
        let increment: Statement<Int64> = "UPDATE counters SET v = v + 1 WHERE id = \(\.self)"
        let locked = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        concurrently(2) { i in
            var firstRun = true
            do {
                try store.run(.write) { c in
                    bodies.withLock { $0 += 1 }
                    // Each takes its own row, waits for the other to do the same, then wants the other's: a deadlock.
                    try c.execute(increment, Int64(i + 1))
                    if firstRun {
                        firstRun = false
                        locked[i].signal()
                        _ = locked[1 - i].wait(timeout: .now() + 5)
                    }
                    try c.execute(increment, Int64(2 - i))
                }
            } catch { failures.withLock { $0.append("\(error)") } }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertEqual(bodies.withLock { $0 }, 3, "the deadlock victim ran again")
        let values = try store.run { c in try c.execute("SELECT v FROM counters ORDER BY id").rows.map { row in try row["v"] as Int64 } }
        XCTAssertEqual(values, [2, 2])
    }

    func testLogoutOnOneInstanceIsHonouredByAnotherWithinTheBound() throws {
        var configuration = AuthConfiguration(signingKeys: ["k1": Array(repeating: 9, count: 32)], activeKeyID: "k1")
        configuration.passwordHashing = Argon2Parameters(memoryKiB: 64, iterations: 1)
        configuration.revocationPollInterval = .seconds(1)  // the largest accepted, stated as the bound
        let a = try AuthCore(configuration: configuration, store: try migratedStore())
        let b = try AuthCore(configuration: configuration, store: try migratedStore())
        try a.start(); defer { a.stop() }
        try b.start(); defer { b.stop() }
        var worst = 0.0
        for round in 0..<3 {
            let t = try a.register(email: "r\(round)@example.com", password: "a long passphrase", clientAddress: nil)
            XCTAssertNotNil(try? b.validate(token: t.accessToken).claims())
            try a.logout(token: t.accessToken)
            let start = Date()
            var seen: TimeInterval?
            for _ in 0..<600 {  // at most 3 s
                if b.validate(token: t.accessToken) == .revoked { seen = Date().timeIntervalSince(start); break }
                Thread.sleep(forTimeInterval: 0.005)
            }
            let elapsed = try XCTUnwrap(seen, "instance b never saw the logout")
            worst = max(worst, elapsed)
            // The bound: one poll interval plus one poll's duration (milliseconds; 1 s of slack for a loaded machine).
            XCTAssertLessThanOrEqual(elapsed, configuration.revocationPollInterval / .seconds(1) + 1.0)
        }
        print("logout on one instance honoured by the other after at most \(String(format: "%.3f", worst)) s (poll interval 1 s)")
    }
}
