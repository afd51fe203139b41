import AuthCore
import Foundation
import TestSupport
import XCTest

/// Validation fails closed: past `revocationMaxStaleness` without a successful read of the
/// revocation feed, a token that would be valid is answered `.unavailable` and health is false,
/// because this instance may be missing another instance's logouts. The feed is stopped with the
/// in-memory store's failure injection (a stopped MariaDB is `DatabaseOutageTests` and
/// `RevocationOutageTests` in EndToEndTests).
final class RevocationFreshnessTests: XCTestCase {
    private func core(_ store: InMemoryAuthStore, clock: TestClock) throws -> AuthCore {
        var configuration = Fixtures.configuration()
        configuration.revocationPollInterval = .milliseconds(20)
        configuration.revocationMaxStaleness = .seconds(5)
        configuration.healthProbeInterval = .milliseconds(20)
        configuration.healthStaleness = .seconds(60)
        return try Fixtures.core(store, clock: clock, configuration: configuration)
    }

    func testAStoppedFeedMakesValidateUnavailableWithinTheBoundAndItRecovers() throws {
        let store = InMemoryAuthStore(), clock = TestClock()
        let a = try core(store, clock: clock)
        try a.start()
        defer { a.stop() }
        let tokens = try a.register(email: "ivy@example.com", password: "a long passphrase", clientAddress: nil)
        let other = try a.register(email: "jon@example.com", password: "a long passphrase", clientAddress: nil)
        XCTAssertNotNil(try? a.validate(token: tokens.accessToken).claims())
        XCTAssertNotNil(try? a.validate(token: other.accessToken).claims(), "now in the validated-token cache")

        // The feed stops (the rest of the store still answers). Wait for the poller to have
        // tried (and failed) at least once, so the last success is at the current clock.
        store.failingFeed.withLock { $0 = true }
        Thread.sleep(forTimeInterval: 0.2)
        clock.advance(4)
        XCTAssertNotNil(try? a.validate(token: tokens.accessToken).claims(), "within the bound memory is trusted")
        XCTAssertTrue(a.revocationsAreFresh)
        clock.advance(2)
        XCTAssertEqual(a.validate(token: tokens.accessToken), .unavailable, "past the bound: fail closed")
        XCTAssertEqual(a.validate(token: other.accessToken), .unavailable, "a cache hit fails closed too")
        XCTAssertEqual(a.validate(token: "junk"), .invalid, "what needs no revocation knowledge is still answered")
        XCTAssertEqual(a.validate(token: ""), .missing)
        XCTAssertFalse(a.revocationsAreFresh)
        XCTAssertFalse(a.health(), "NOT_SERVING while the revocations are stale")
        XCTAssertEqual(AuthError.code { _ = try a.status(token: tokens.accessToken) }, .revocationsStale)

        // The feed answers again: the next poll makes memory current and validation answers.
        store.failingFeed.withLock { $0 = false }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { (try? a.validate(token: tokens.accessToken).claims()) != nil },
                      "validation never recovered")
        XCTAssertNotNil(try? a.validate(token: other.accessToken).claims())
        XCTAssertTrue(a.health())
    }

    /// A whole-store outage stops the feed as well.
    func testAStoreOutageStopsTheFeed() throws {
        let store = InMemoryAuthStore(), clock = TestClock()
        let a = try core(store, clock: clock)
        try a.start()
        defer { a.stop() }
        let tokens = try a.register(email: "kim@example.com", password: "a long passphrase", clientAddress: nil)
        store.failing.withLock { $0 = true }
        Thread.sleep(forTimeInterval: 0.2)
        clock.advance(6)
        XCTAssertEqual(a.validate(token: tokens.accessToken), .unavailable)
        store.failing.withLock { $0 = false }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { a.validate(token: tokens.accessToken) != .unavailable })
        XCTAssertNotNil(try? a.validate(token: tokens.accessToken).claims())
    }

    /// A core that does not follow the feed (never started: tests, tools) has no staleness bound.
    func testACoreNotFollowingTheFeedHasNoBound() throws {
        let store = InMemoryAuthStore(), clock = TestClock()
        let a = try core(store, clock: clock)
        let tokens = try a.register(email: "lea@example.com", password: "a long passphrase", clientAddress: nil)
        clock.advance(60)
        XCTAssertNotNil(try? a.validate(token: tokens.accessToken).claims())
    }

    func testTheBoundMustExceedThePollInterval() {
        var configuration = Fixtures.configuration()
        configuration.revocationPollInterval = .seconds(1)
        configuration.revocationMaxStaleness = .seconds(1)
        XCTAssertThrowsError(try configuration.validated())
        configuration.revocationMaxStaleness = .seconds(2)
        XCTAssertNoThrow(try configuration.validated())
    }
}
