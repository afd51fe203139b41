import Foundation
import Logging
import RPCCore
import RPCDispatch
import XCTest

/// The dispatcher's budget of request bytes held by queued blocking calls: every transport gets
/// it (here the in-process one); past it a call is refused RESOURCE_EXHAUSTED at once.
final class QueuedBytesBudgetTests: XCTestCase {
    private var logger: Logger {
        var l = Logger(label: "dispatch-test")
        l.logLevel = .critical
        return l
    }

    func testQueuedRequestBytesOverTheBudgetAreRefusedAtOnce() throws {
        let counter = Counter()
        let service = TestService(counter: counter)
        let server = InProcessServer(services: [service], workerThreads: 1, workerQueueCapacity: 16,
                                     maxQueuedRequestBytes: 1_000, logger: logger)
        try server.start()
        defer { server.shutdown(grace: .seconds(2)) }
        defer { service.gate.open(8) }  // whatever happens, nothing stays held
        let transport = server.transport()
        let done = DispatchGroup()
        let request = [UInt8](repeating: 7, count: 400)
        // One call holds the worker (running calls hold no budget), two wait with 400 bytes each.
        for (method, expected) in [(TestService.held, (1, 0)), (TestService.counted, (1, 1)), (TestService.counted, (1, 2))] {
            done.enter()
            Thread.detachNewThread {
                _ = try? transport.unary(method, request: request, options: CallOptions())
                done.leave()
            }
            XCTAssertTrue(eventually { server.dispatcher.workerLoad == expected })
        }
        XCTAssertEqual(server.dispatcher.queuedRequestBytes, 800)
        // Refused at once: the call is made on a thread of its own, so a queued one cannot hang the test.
        let refused = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        Thread.detachNewThread {
            do { _ = try transport.unary(TestService.counted, request: request, options: CallOptions()) } catch {
                outcome.error = error as? RPCError
            }
            refused.signal()
        }
        let answeredAtOnce = refused.wait(timeout: .now() + 2)
        XCTAssertEqual(answeredAtOnce, .success, "a call over the budget was queued")
        XCTAssertEqual(outcome.error?.code, .resourceExhausted)
        XCTAssertEqual(server.statistics.callsRejectedOverload, 1)
        // A smaller one still fits; inline calls are not affected.
        done.enter()
        Thread.detachNewThread {
            _ = try? transport.unary(TestService.counted, request: [1], options: CallOptions())
            done.leave()
        }
        XCTAssertTrue(eventually { server.dispatcher.workerLoad == (1, 3) })
        XCTAssertEqual(try transport.unary(TestService.echo, request: [5], options: CallOptions()), [5])
        service.gate.open()
        if answeredAtOnce != .success { _ = refused.wait(timeout: .now() + 10) }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(counter["Counted"], 3)
        XCTAssertEqual(server.dispatcher.queuedRequestBytes, 0, "the budget came back")
        XCTAssertEqual(try transport.unary(TestService.counted, request: request, options: CallOptions()), request)
    }
}

/// The error a call on another thread ended with.
private final class Outcome: @unchecked Sendable {
    // @unchecked Sendable: written before the semaphore is signalled, read after it is waited for.
    var error: RPCError?
}
