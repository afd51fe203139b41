import Foundation
import Logging
import RPCCore
import RPCDispatch
import Support
import XCTest

/// The in-process transport keeps the dispatch contract: where handlers run, deadlines, overload,
/// cancellation, metadata and peer, the status mapping, graceful shutdown.
final class InProcessTransportTests: XCTestCase {
    private var logger: Logger {
        var l = Logger(label: "dispatch-test")
        l.logLevel = .critical
        return l
    }

    private func startServer(_ service: TestService, workerThreads: Int = 2, queueCapacity: Int = 16) throws -> InProcessServer {
        let server = InProcessServer(services: [service], workerThreads: workerThreads, workerQueueCapacity: queueCapacity,
                                     logger: logger)
        try server.start()
        return server
    }

    func testInlineRunsOnTheCallersThreadAndBlockingOnANamedWorker() throws {
        let server = try startServer(TestService(counter: Counter()))
        defer { server.shutdown(grace: .seconds(1)) }
        let transport = server.transport()
        let caller = currentThreadName()
        let inline = try transport.unary(TestService.inlineThread, request: [], options: CallOptions())
        XCTAssertEqual(String(decoding: inline, as: UTF8.self), caller)
        let blocking = try transport.unary(TestService.blockingThread, request: [], options: CallOptions())
        XCTAssertTrue(String(decoding: blocking, as: UTF8.self).hasPrefix("rpc-worker-"), String(decoding: blocking, as: UTF8.self))
        XCTAssertEqual(try transport.unary(TestService.echo, request: [1, 2], options: CallOptions()), [1, 2])
    }

    func testMetadataPeerAndDeadlineReachTheHandler() async throws {
        let server = try startServer(TestService(counter: Counter()))
        defer { server.shutdown(grace: .seconds(1)) }
        let options = CallOptions(timeout: .seconds(5), metadata: ["authorization": "Bearer t", "x-trace": "1"])
        let reply = try await server.transport().unary(TestService.peer, request: [], options: options)
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "in-process|deadline|authorization=Bearer t|x-trace=1")
        let noDeadline = try await server.transport().unary(TestService.peer, request: [], options: CallOptions())
        XCTAssertEqual(String(decoding: noDeadline, as: UTF8.self), "in-process|no deadline")
    }

    func testStatusMapping() throws {
        let server = try startServer(TestService(counter: Counter()))
        defer { server.shutdown(grace: .seconds(1)) }
        let transport = server.transport()
        XCTAssertThrowsError(try transport.unary(TestService.fail, request: [], options: CallOptions())) {
            XCTAssertEqual($0 as? RPCError, RPCError(.notFound, "nope"))
        }
        XCTAssertThrowsError(try transport.unary(TestService.crash, request: [], options: CallOptions())) {
            XCTAssertEqual($0 as? RPCError, RPCError(.internalError, "internal error"), "other errors are hidden")
        }
        XCTAssertThrowsError(try transport.unary(MethodDescriptor(service: "test.v1.T", method: "Nope"), request: [],
                                                 options: CallOptions())) {
            XCTAssertEqual($0 as? RPCError, RPCError(.unimplemented, "unknown method test.v1.T/Nope"))
        }
    }

    func testDeadlineExceededWhileRunning() throws {
        let server = try startServer(TestService(counter: Counter()))
        defer { server.shutdown(grace: .seconds(2)) }
        XCTAssertThrowsError(try server.transport().unary(TestService.sleep, request: [30],
                                                          options: CallOptions(timeout: .milliseconds(50)))) {
            XCTAssertEqual(($0 as? RPCError)?.code, .deadlineExceeded)
        }
        // The transport's default timeout applies when a call sets none.
        XCTAssertThrowsError(try server.transport(defaultTimeout: .milliseconds(50)).unary(TestService.sleep, request: [30],
                                                                                          options: CallOptions())) {
            XCTAssertEqual(($0 as? RPCError)?.code, .deadlineExceeded)
        }
    }

    func testAsyncDeadlineExceededWhileRunning() async throws {
        let server = try startServer(TestService(counter: Counter()))
        defer { server.shutdown(grace: .seconds(2)) }
        let transport = server.transport()
        do {
            _ = try await transport.unary(TestService.sleep, request: [30], options: CallOptions(timeout: .milliseconds(50)))
            XCTFail("no deadline")
        } catch {
            XCTAssertEqual((error as? RPCError)?.code, .deadlineExceeded)
        }
    }

    /// A call whose deadline passes while it waits for the only worker is not run.
    func testCallPastItsDeadlineInTheQueueIsSkipped() throws {
        let counter = Counter()
        let service = TestService(counter: counter)
        let server = try startServer(service, workerThreads: 1)
        defer { server.shutdown(grace: .seconds(2)) }
        let transport = server.transport()
        let held = expectation(description: "held call answered")
        Thread.detachNewThread {
            XCTAssertEqual(try? transport.unary(TestService.held, request: [1], options: CallOptions()), [1])
            held.fulfill()
        }
        XCTAssertTrue(eventually { server.dispatcher.workerLoad == (1, 0) })
        XCTAssertThrowsError(try transport.unary(TestService.counted, request: [], options: CallOptions(timeout: .milliseconds(30)))) {
            XCTAssertEqual(($0 as? RPCError)?.code, .deadlineExceeded)
        }
        service.gate.open()
        wait(for: [held], timeout: 10)
        XCTAssertTrue(eventually { server.dispatcher.workerLoad == (0, 0) })
        XCTAssertEqual(counter["Counted"], 0, "the expired call's handler never ran")
    }

    func testFullPoolIsResourceExhaustedAtOnce() throws {
        let counter = Counter()
        let service = TestService(counter: counter)
        let server = try startServer(service, workerThreads: 1, queueCapacity: 1)
        defer { server.shutdown(grace: .seconds(2)) }
        let transport = server.transport()
        let done = DispatchGroup()
        for expected in [(1, 0), (1, 1)] {
            done.enter()
            Thread.detachNewThread {
                _ = try? transport.unary(TestService.held, request: [], options: CallOptions())
                done.leave()
            }
            XCTAssertTrue(eventually { server.dispatcher.workerLoad == expected })
        }
        XCTAssertThrowsError(try transport.unary(TestService.counted, request: [], options: CallOptions())) {
            XCTAssertEqual($0 as? RPCError, RPCError(.resourceExhausted, "server overloaded, try again later"))
        }
        XCTAssertEqual(server.statistics.callsRejectedOverload, 1)
        XCTAssertEqual(try transport.unary(TestService.echo, request: [5], options: CallOptions()), [5], "inline calls are not affected")
        service.gate.open(2)
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(counter["Counted"], 0)
    }

    /// Cancelling the task of a call that waits for a worker skips its handler.
    func testCancelledTaskSkipsQueuedCall() async throws {
        let counter = Counter()
        let service = TestService(counter: counter)
        let server = try startServer(service, workerThreads: 1)
        defer { server.shutdown(grace: .seconds(2)) }
        let transport = server.transport()
        let held = Task.detached { try transport.unary(TestService.held, request: [1], options: CallOptions()) }
        XCTAssertTrue(eventually { server.dispatcher.workerLoad == (1, 0) })
        let queued = Task { try await transport.unary(TestService.counted, request: [2], options: CallOptions()) }
        XCTAssertTrue(eventually { server.dispatcher.workerLoad == (1, 1) })
        queued.cancel()
        do {
            _ = try await queued.value
            XCTFail("a cancelled call returned")
        } catch {
            XCTAssertEqual(error as? RPCError, RPCError(.cancelled, "call cancelled"))
        }
        service.gate.open()
        let heldReply = try await held.value
        XCTAssertEqual(heldReply, [1])
        XCTAssertTrue(eventually { server.dispatcher.workerLoad == (0, 0) })
        XCTAssertEqual(counter["Counted"], 0, "the cancelled call's handler never ran")
        let again = try await transport.unary(TestService.counted, request: [3], options: CallOptions())
        XCTAssertEqual(again, [3])
        XCTAssertEqual(counter["Counted"], 1)
    }

    /// Shutdown lets the call in flight finish, refuses new calls with UNAVAILABLE, and stops.
    func testGracefulShutdown() throws {
        let counter = Counter()
        let service = TestService(counter: counter)
        let server = try startServer(service, workerThreads: 1)
        let transport = server.transport()
        let held = expectation(description: "held call answered")
        Thread.detachNewThread {
            XCTAssertEqual(try? transport.unary(TestService.held, request: [9], options: CallOptions()), [9])
            held.fulfill()
        }
        XCTAssertTrue(eventually { server.dispatcher.workerLoad == (1, 0) })
        let stopped = expectation(description: "stopped")
        Thread.detachNewThread {
            server.shutdown(grace: .seconds(10))
            stopped.fulfill()
        }
        XCTAssertTrue(eventually {
            (try? transport.unary(TestService.echo, request: [], options: CallOptions())) == nil
        })
        XCTAssertThrowsError(try transport.unary(TestService.echo, request: [], options: CallOptions())) {
            XCTAssertEqual($0 as? RPCError, RPCError(.unavailable, "server is shutting down"))
        }
        service.gate.open()
        wait(for: [held, stopped], timeout: 10)
        server.waitUntilStopped()
        XCTAssertEqual(counter["Held"], 1)
    }

    /// Calls still queued when the grace period ends are answered UNAVAILABLE, not left waiting.
    func testShutdownAnswersQueuedCalls() throws {
        let service = TestService(counter: Counter())
        let server = try startServer(service, workerThreads: 1)
        let transport = server.transport()
        let answers = Locked<[RPCError]>([])
        let done = DispatchGroup()
        for expected in [(1, 0), (1, 1)] {
            done.enter()
            Thread.detachNewThread {
                do { _ = try transport.unary(TestService.held, request: [], options: CallOptions()) }
                catch { answers.withLock { $0.append(error as! RPCError) } }
                done.leave()
            }
            XCTAssertTrue(eventually { server.dispatcher.workerLoad == expected })
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { service.gate.open() }
        server.shutdown(grace: .milliseconds(50))
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(answers.withLock { $0 }, [RPCError(.unavailable, "server is shutting down")])
    }

    func testCallsBeforeStartAreRefused() {
        let server = InProcessServer(services: [TestService(counter: Counter())], logger: logger)
        defer { server.shutdown(grace: .zero) }
        XCTAssertThrowsError(try server.transport().unary(TestService.echo, request: [], options: CallOptions())) {
            XCTAssertEqual(($0 as? RPCError)?.code, .unavailable)
        }
        XCTAssertEqual(server.port, 0)
    }
}
