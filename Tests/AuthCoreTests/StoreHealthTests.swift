@testable import AuthCore
import Foundation
import RPCCore
import TestSupport
import XCTest

/// `health()` after `start()`: answered from the state the background probe keeps, down within
/// the staleness bound when the store stops answering (at once when a call finds it down), and
/// up again when it answers.
final class StoreHealthTests: XCTestCase {
    func testTheVerdictFollowsProbesFailuresAndStaleness() {
        let health = StoreHealth(staleness: .seconds(1))
        XCTAssertNil(health.isHealthy(now: 10), "no probe yet: the caller pings itself")
        XCTAssertTrue(health.record(true, startedAt: 1_000_000_000))
        XCTAssertEqual(health.isHealthy(now: 1_500_000_000), true)
        XCTAssertEqual(health.isHealthy(now: 2_000_000_000), true)
        XCTAssertEqual(health.isHealthy(now: 2_000_000_001), false, "no successful probe within the bound: stale")
        XCTAssertFalse(health.record(true, startedAt: 2_100_000_000), "still up: no change to report")
        health.recordFailure(at: 2_200_000_000)
        XCTAssertEqual(health.isHealthy(now: 2_200_000_001), false, "a failure after the last success")
        _ = health.record(true, startedAt: 2_150_000_000)
        XCTAssertEqual(health.isHealthy(now: 2_300_000_000), false, "a probe that began before the failure does not clear it")
        _ = health.record(true, startedAt: 2_250_000_000)
        XCTAssertEqual(health.isHealthy(now: 2_300_000_000), true)
        health.reset()
        XCTAssertNil(health.isHealthy(now: 2_300_000_000))
    }

    func testHealthFollowsTheStoreWithinTheBound() throws {
        let store = InMemoryAuthStore()
        var configuration = Fixtures.configuration()
        configuration.healthProbeInterval = .milliseconds(50)
        configuration.healthStaleness = .milliseconds(300)
        let core = try AuthCore(configuration: configuration, store: store)
        try core.start()
        defer { core.stop() }
        XCTAssertTrue(core.health())

        // Each change within the 0.3 s bound, plus a margin for a loaded 2-core (or sanitizer-slowed)
        // machine; "never" would run into waitUntil's timeout.
        store.failing.withLock { $0 = true }
        let stopped = ContinuousClock.now
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { !core.health() }, "never NOT_SERVING")
        XCTAssertLessThanOrEqual(ContinuousClock.now - stopped, .milliseconds(300 + 1500), "NOT_SERVING within the staleness bound")

        store.failing.withLock { $0 = false }
        let back = ContinuousClock.now
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { core.health() }, "never SERVING again")
        XCTAssertLessThanOrEqual(ContinuousClock.now - back, .milliseconds(300 + 1500), "SERVING again by the next probes")
    }

    /// A call that finds the store unavailable marks it down at once, before the next probe.
    func testAFailedCallMarksTheStoreDownAtOnce() throws {
        let store = InMemoryAuthStore()
        var configuration = Fixtures.configuration()
        configuration.healthProbeInterval = .seconds(30)
        configuration.healthStaleness = .seconds(60)
        let core = try AuthCore(configuration: configuration, store: store)
        try core.start()
        defer { core.stop() }
        XCTAssertTrue(core.health())
        store.failing.withLock { $0 = true }
        XCTAssertEqual(AuthError.code { _ = try core.login(email: "a@example.com", password: "a long passphrase", clientAddress: nil) },
                       .storeUnavailable)
        XCTAssertFalse(core.health())
        store.failing.withLock { $0 = false }
        core.probeHealth()
        XCTAssertTrue(core.health())
    }

    /// Before start() (and after stop()) health() asks the store itself.
    func testWithoutTheProbeHealthAsksTheStore() throws {
        let store = InMemoryAuthStore()
        let core = try AuthCore(configuration: Fixtures.configuration(), store: store)
        XCTAssertTrue(core.health())
        store.failing.withLock { $0 = true }
        XCTAssertFalse(core.health())
    }
}
