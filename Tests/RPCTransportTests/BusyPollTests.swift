import Foundation
import RPCCore
import Support
@testable import RPCTransport
import TestSupport
import XCTest

/// `ServerConfiguration.busyPoll` and `ClientConfiguration.busyPoll`: the I/O threads poll without
/// sleeping for a while before they sleep. Nothing else may change: replies, slow calls that
/// outlast the spin, deadlines and shutdown behave as without it.
final class BusyPollTests: XCTestCase {
    func testSequentialAndConcurrentCallsWithBothSidesSpinning() throws {
        let server = try TestHarness.startServer(busyPoll: .microseconds(200))
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port, busyPoll: .microseconds(200))
        defer { client.close() }
        for i in 0..<200 {
            let request = Array("call \(i)".utf8)
            XCTAssertEqual(try client.unary(EchoTestService.echo, request: request, options: CallOptions()), request)
        }
        let group = DispatchGroup()
        let failures = Locked(0)
        for i in 0..<300 {
            group.enter()
            let request = Array("concurrent \(i)".utf8)
            try client.start(EchoTestService.echo, request: request, options: CallOptions()) { result in
                if (try? result.get()) != request { failures.withLock { $0 += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(failures.withLock { $0 }, 0)
    }

    /// A reply later than the spin is still read: the threads fall back to their blocking wait.
    func testReplyLaterThanTheSpinArrives() throws {
        let server = try TestHarness.startServer(busyPoll: .microseconds(50))
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port, busyPoll: .microseconds(50))
        defer { client.close() }
        let request = EchoTestService.slowRequest(millis: 30, id: 7)
        XCTAssertEqual(try client.unary(EchoTestService.slow, request: request, options: CallOptions()), request)
    }

    func testDeadlineFiresWhileSpinning() throws {
        let server = try TestHarness.startServer(busyPoll: .microseconds(100))
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port, busyPoll: .microseconds(100))
        defer { client.close() }
        let request = EchoTestService.slowRequest(millis: 2_000)
        XCTAssertThrowsError(try client.unary(EchoTestService.slow, request: request,
                                              options: CallOptions(timeout: .milliseconds(100)))) { error in
            XCTAssertEqual((error as? RPCError)?.code, .deadlineExceeded)
        }
    }

    func testSpinningServerShutsDown() throws {
        let server = try TestHarness.startServer(busyPoll: .milliseconds(1))
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [1, 2, 3], options: CallOptions()), [1, 2, 3])
        let started = ContinuousClock.now
        server.shutdown(grace: .seconds(5))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(4), "an idle spinning server must not wait out its grace")
    }
}
