@testable import RPCTransport
import XCTest

/// The client's keepalive rules, without sockets or sleeping: a clock is passed in.
final class ClientKeepaliveTests: XCTestCase {
    private let start = ContinuousClock.now

    func testPingsAfterAQuietIntervalAndGivesUpWithoutAnAnswer() {
        var keepalive = ClientKeepalive(interval: .seconds(30), timeout: .seconds(10), now: start)
        XCTAssertEqual(keepalive.nextCheck, start + .seconds(30))
        XCTAssertEqual(keepalive.check(now: start + .seconds(30)), .none, "not before the interval has passed")
        XCTAssertEqual(keepalive.check(now: start + .seconds(31)), .sendPing)
        XCTAssertEqual(keepalive.nextCheck, start + .seconds(41), "the PING's answer is due within the timeout")
        XCTAssertEqual(keepalive.check(now: start + .seconds(35)), .none, "one PING at a time")
        XCTAssertEqual(keepalive.check(now: start + .seconds(42)), .timedOut)
    }

    func testBytesFromTheServerAnswerThePingAndRestartTheInterval() {
        var keepalive = ClientKeepalive(interval: .seconds(30), timeout: .seconds(10), now: start)
        XCTAssertEqual(keepalive.check(now: start + .seconds(31)), .sendPing)
        keepalive.received(at: start + .seconds(32))
        XCTAssertNil(keepalive.pingSentAt)
        XCTAssertEqual(keepalive.nextCheck, start + .seconds(62))
        XCTAssertEqual(keepalive.check(now: start + .seconds(50)), .none, "answered: no time-out")
        XCTAssertEqual(keepalive.check(now: start + .seconds(63)), .sendPing)
    }

    func testOffWithoutAnInterval() {
        var keepalive = ClientKeepalive(interval: nil, timeout: .seconds(10), now: start)
        XCTAssertNil(keepalive.nextCheck)
        XCTAssertEqual(keepalive.check(now: start + .seconds(3600)), .none)
    }
}
