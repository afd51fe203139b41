import Foundation
import RPCCore
import Support
@testable import RPCTransport
import Synchronization
import TestSupport
import XCTest

/// `ClientConnection.start(_:request:options:onReply:)`: replies delivered by callbacks on the I/O thread.
final class CallbackCallTests: XCTestCase {
    /// Outcomes by call number, each expected once.
    private final class Outcomes: Sendable {
        let results = Locked<[Int: [Result<[UInt8], RPCError>]]>([:])
        let group = DispatchGroup()

        func record(_ i: Int, _ result: Result<[UInt8], RPCError>) {
            results.withLock { $0[i, default: []].append(result) }
        }
    }

    func testEveryReplyArrivesOnceToItsCallback() throws {
        var limits = ServerLimits()
        limits.maxBlockingCallsPerConnection = 16  // the ten slow calls may all be in flight at once
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let outcomes = Outcomes()
        for i in 0..<500 {
            outcomes.group.enter()
            // Slow calls among fast ones, so replies come back out of order.
            let request = i % 50 == 0 ? EchoTestService.slowRequest(millis: 20, id: UInt32(i)) : Array("call \(i)".utf8)
            try client.start(i % 50 == 0 ? EchoTestService.slow : EchoTestService.echo, request: request,
                             options: CallOptions()) { result in
                XCTAssertEqual(try? result.get(), request)
                outcomes.record(i, result)
                outcomes.group.leave()
            }
        }
        XCTAssertEqual(outcomes.group.wait(timeout: .now() + 20), .success)
        Thread.sleep(forTimeInterval: 0.05)  // a window for a second resume (nothing to wait for: it must not come)
        let results = outcomes.results.withLock { $0 }
        XCTAssertEqual(results.count, 500)
        XCTAssertTrue(results.values.allSatisfy { $0.count == 1 })
    }

    func testStatusErrorsReachTheCallback() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let outcome = Locked<Result<[UInt8], RPCError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        try client.start(EchoTestService.fail, request: [StatusCode.notFound.rawValue] + Array("gone".utf8),
                         options: CallOptions()) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        guard case .failure(let error)? = outcome.withLock({ $0 }) else { return XCTFail("expected a failure") }
        XCTAssertEqual(error, RPCError(.notFound, "gone"))
    }

    /// Chains of calls, each started from the previous one's callback on the I/O thread: they all
    /// complete, and none needs the eventfd wake-up (the I/O thread is awake when they are queued).
    func testCallsStartedFromCallbacksCompleteWithoutWakeUps() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        _ = try client.unary(EchoTestService.echo, request: [0], options: CallOptions())  // connected
        let chains = 8, callsPerChain = 300
        let completed = Atomic<Int>(0), wrong = Atomic<Int>(0)
        let group = DispatchGroup()
        let onIOThread = Atomic<Int>(0)
        let testThread = pthread_self()

        @Sendable func call(chain: Int, step: Int) {
            let request = Array("\(chain)/\(step)".utf8)
            do {
                try client.start(EchoTestService.echo, request: request, options: CallOptions()) { result in
                    if (try? result.get()) != request { wrong.add(1, ordering: .relaxed) }
                    completed.add(1, ordering: .relaxed)
                    if pthread_equal(pthread_self(), testThread) == 0 { onIOThread.add(1, ordering: .relaxed) }
                    if step + 1 < callsPerChain { call(chain: chain, step: step + 1) } else { group.leave() }
                }
            } catch {
                wrong.add(1, ordering: .relaxed)
                group.leave()
            }
        }
        let wakeUpsBefore = client.wakeUps
        for chain in 0..<chains {
            group.enter()
            call(chain: chain, step: 0)
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(completed.load(ordering: .relaxed), chains * callsPerChain)
        XCTAssertEqual(wrong.load(ordering: .relaxed), 0)
        XCTAssertEqual(onIOThread.load(ordering: .relaxed), chains * callsPerChain)
        // Only the first calls, started from this thread, may have woken the I/O thread.
        XCTAssertLessThanOrEqual(client.wakeUps - wakeUpsBefore, chains)
    }

    /// A dropped connection fails every callback with UNAVAILABLE, exactly once.
    func testDroppedConnectionFailsEveryCallbackOnce() throws {
        var limits = ServerLimits()
        limits.maxBlockingCallsPerConnection = 32  // all twenty slow calls are in flight when the server goes
        let server = try TestHarness.startServer(limits: limits)
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        _ = try client.unary(EchoTestService.echo, request: [0], options: CallOptions())
        let outcomes = Outcomes()
        let started = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        for i in 0..<20 {
            outcomes.group.enter()
            try client.start(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 2000, id: UInt32(i)),
                             options: CallOptions()) { result in
                outcomes.record(i, result)
                outcomes.group.leave()
            }
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: started), "no slow call reached the server")
        server.shutdown(grace: .milliseconds(50))
        XCTAssertEqual(outcomes.group.wait(timeout: .now() + 10), .success)
        Thread.sleep(forTimeInterval: 0.1)  // a window for a second resume (nothing to wait for: it must not come)
        let results = outcomes.results.withLock { $0 }
        XCTAssertEqual(results.count, 20)
        for (i, list) in results {
            XCTAssertEqual(list.count, 1, "call \(i) resumed \(list.count) times")
            guard case .failure(let error)? = list.first else { XCTFail("call \(i) succeeded"); continue }
            XCTAssertEqual(error.code, .unavailable)
        }
        // A call on the dead server is refused: thrown, or failed through its callback.
        let late = DispatchSemaphore(value: 0)
        do {
            try client.start(EchoTestService.echo, request: [1], options: CallOptions()) { result in
                if case .success = result { XCTFail("no server, no reply") }
                late.signal()
            }
            XCTAssertEqual(late.wait(timeout: .now() + 10), .success)
        } catch {
            XCTAssertEqual(error.code, .unavailable)
        }
    }

    /// Deadlines fire through the callback (once, even though the server answers later), and the
    /// connection keeps serving.
    func testDeadlinesFire() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let outcomes = Outcomes()
        let finished = EchoTestService.slowCallsFinished.load(ordering: .relaxed)
        let start = ContinuousClock.now
        for i in 0..<3 {
            outcomes.group.enter()
            try client.start(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 1500),
                             options: CallOptions(timeout: .milliseconds(100 * (i + 1)))) { result in
                outcomes.record(i, result)
                outcomes.group.leave()
            }
        }
        XCTAssertEqual(outcomes.group.wait(timeout: .now() + 10), .success)
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(1400))
        // The late replies: the handlers finish, then a call on the same connection is answered
        // after them (one connection, replies in the order the server sent them): they were dropped.
        XCTAssertTrue(waitUntil { EchoTestService.slowCallsFinished.load(ordering: .relaxed) >= finished + 3 },
                      "the slow handlers did not finish")
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [7], options: CallOptions()), [7])
        let results = outcomes.results.withLock { $0 }
        for i in 0..<3 {
            XCTAssertEqual(results[i]?.count, 1)
            guard case .failure(let error)? = results[i]?.first else { XCTFail("call \(i) succeeded"); continue }
            XCTAssertEqual(error.code, .deadlineExceeded)
        }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [7], options: CallOptions()), [7])
    }

    /// Many connections, each with many chains of calls made from callbacks.
    func testManyCallbacksOnManyConnections() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let clients = try (0..<4).map { _ in try TestHarness.client(port: server.port) }
        defer { for c in clients { c.close() } }
        let chainsPerClient = 32, callsPerChain = 40
        let completed = Atomic<Int>(0), failed = Atomic<Int>(0)
        let group = DispatchGroup()
        @Sendable func call(_ client: ClientConnection, remaining: Int) {
            do {
                try client.start(EchoTestService.echo, request: [UInt8(remaining & 0xFF)], options: CallOptions()) { result in
                    if (try? result.get()) == [UInt8(remaining & 0xFF)] {
                        completed.add(1, ordering: .relaxed)
                    } else {
                        failed.add(1, ordering: .relaxed)
                    }
                    if remaining > 1 { call(client, remaining: remaining - 1) } else { group.leave() }
                }
            } catch {
                failed.add(1, ordering: .relaxed)
                group.leave()
            }
        }
        for client in clients {
            for _ in 0..<chainsPerClient {
                group.enter()
                call(client, remaining: callsPerChain)
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(failed.load(ordering: .relaxed), 0)
        XCTAssertEqual(completed.load(ordering: .relaxed), clients.count * chainsPerClient * callsPerChain)
        XCTAssertEqual(clients.map(\.statistics.connectionsOpened), [1, 1, 1, 1])
    }

    /// The deadline check costs nothing until the earliest deadline comes, and moves on after it.
    func testStateMachineDeadlineBound() {
        var m = ClientConnectionStateMachine<String>()
        let now = ContinuousClock.now
        _ = m.startCall("a", deadline: now + .milliseconds(10))
        _ = m.startCall("b", deadline: now + .seconds(5))
        _ = m.startCall("c", deadline: now + .seconds(2))
        XCTAssertEqual(m.earliestDeadline, now + .milliseconds(10))
        XCTAssertNotNil(m.cancelCall(1))  // finished: the bound stays, a check at that time finds nothing
        XCTAssertEqual(m.expireCalls(now: now + .milliseconds(5)).count, 0)
        XCTAssertEqual(m.expireCalls(now: now + .milliseconds(20)).count, 0)
        XCTAssertEqual(m.earliestDeadline, now + .seconds(2))
        XCTAssertEqual(m.expireCalls(now: now + .seconds(3)).map(\.1), ["c"])
        XCTAssertEqual(m.earliestDeadline, now + .seconds(5))
        _ = m.startCall("d", deadline: now + .seconds(1))
        XCTAssertEqual(m.earliestDeadline, now + .seconds(1))
        XCTAssertEqual(m.connectionClosed(RPCError(.unavailable, "gone")).sorted(), ["b", "d"])
        XCTAssertNil(m.earliestDeadline)
    }
}
