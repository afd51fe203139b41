import Foundation
import RPCCore
@testable import RPCTransport
import TestSupport
import XCTest

/// Answers `rpctest.v1.Tag/Which` with the name of the server it runs in.
private struct TagService: RPCServiceProvider {
    static let which = MethodDescriptor(service: "rpctest.v1.Tag", method: "Which")
    let tag: String
    var methods: [ServerMethod] { [ServerMethod(descriptor: Self.which, kind: .inline) { _, _ in Array(tag.utf8) }] }
}

/// `BalancedClient`: spreading calls, moving away from servers that are down or going away, and
/// retrying only what is safe.
final class BalancedClientTests: XCTestCase {
    private func configuration(_ port: Int) throws -> ClientConfiguration {
        ClientConfiguration(host: "127.0.0.1", port: port, tls: .client(trustRootsFile: try TestCertificates.shared().caFile),
                            connectTimeout: .seconds(2), defaultTimeout: .seconds(5))
    }

    private func which(_ client: BalancedClient) throws -> String {
        String(decoding: try client.unary(TagService.which, request: [], options: CallOptions()), as: UTF8.self)
    }

    /// A loopback port nothing listens on.
    private func closedPort() throws -> Int {
        let server = try TestHarness.startServer()
        let port = server.port
        server.shutdown(grace: .zero)
        server.waitUntilStopped()
        return port
    }

    func testSpreadsCallsOverServers() throws {
        let a = try TestHarness.startServer(extraServices: [TagService(tag: "A")])
        let b = try TestHarness.startServer(extraServices: [TagService(tag: "B")])
        defer { a.shutdown(grace: .seconds(1)); b.shutdown(grace: .seconds(1)) }
        let client = try BalancedClient(configurations: [configuration(a.port), configuration(b.port)])
        var seen: [String: Int] = [:]
        for _ in 0..<20 { seen[try which(client), default: 0] += 1 }
        XCTAssertEqual(seen, ["A": 10, "B": 10])
        XCTAssertEqual(client.retries, 0)
    }

    func testAddressListIsParsed() throws {
        let pairs = try BalancedClient.parseAddresses("127.0.0.1:7443, [::1]:7444,db:1")
        XCTAssertEqual(pairs.map(\.host), ["127.0.0.1", "::1", "db"])
        XCTAssertEqual(pairs.map(\.port), [7443, 7444, 1])
        XCTAssertThrowsError(try BalancedClient.parseAddresses("nohost"))
        XCTAssertThrowsError(try BalancedClient.parseAddresses("a:0"))
        XCTAssertThrowsError(try BalancedClient.parseAddresses(""))
    }

    func testAnyCallMovesAwayFromAServerThatCannotBeReached() throws {
        let b = try TestHarness.startServer(extraServices: [TagService(tag: "B")])
        defer { b.shutdown(grace: .seconds(1)) }
        let client = try BalancedClient(configurations: [configuration(try closedPort()), configuration(b.port)])
        // Which declares no idempotency, yet every call succeeds: a refused connection sent nothing.
        for _ in 0..<6 { XCTAssertEqual(try which(client), "B") }
        XCTAssertEqual(client.retries, 1, "after the first refusal the dead server is held back")
    }

    func testCallsRefusedByGoAwayGoToTheOtherServer() throws {
        let a = try TestHarness.startServer(extraServices: [TagService(tag: "A")])
        let b = try TestHarness.startServer(extraServices: [TagService(tag: "B")])
        defer { b.shutdown(grace: .seconds(1)) }
        let client = try BalancedClient(configurations: [configuration(a.port), configuration(b.port)])
        XCTAssertEqual(try which(client), "A")  // both connections open
        XCTAssertEqual(try which(client), "B")
        // A slow call keeps A draining while it sends GOAWAY; calls meanwhile all land on B.
        let slow = DispatchGroup()
        let started = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        DispatchQueue.global().async(group: slow) {
            _ = try? client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 600), options: CallOptions())
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: started), "the slow call did not start on A")
        let portA = a.port
        DispatchQueue.global().async { a.shutdown(grace: .seconds(5)) }
        // A closes its listener once its I/O loops have begun the shutdown (GOAWAY sent).
        XCTAssertTrue(waitUntil { !isListening(port: portA) }, "A did not begin its shutdown")
        for _ in 0..<6 { XCTAssertEqual(try which(client), "B") }
        XCTAssertEqual(slow.wait(timeout: .now() + 5), .success)
        a.waitUntilStopped()
    }

    func testOnlyIdempotentCallsAreRetriedAfterTheyMayHaveBeenProcessed() throws {
        let a = try TestHarness.startServer(), b = try TestHarness.startServer()
        defer { a.shutdown(grace: .seconds(1)); b.shutdown(grace: .seconds(1)) }
        let unavailable = [StatusCode.unavailable.rawValue] + Array("busy".utf8)
        let client = try BalancedClient(configurations: [configuration(a.port), configuration(b.port)])
        XCTAssertEqual(EchoTestService.fail.idempotency, .unknown)
        XCTAssertThrowsError(try client.unary(EchoTestService.fail, request: unavailable, options: CallOptions())) {
            XCTAssertEqual(($0 as? RPCError)?.code, .unavailable)
        }
        XCTAssertEqual(client.retries, 0, "an UNAVAILABLE reply may follow processing: not retried")
        // The same method, described as safe to repeat (the descriptor decides, not a list of names).
        var retried = 0
        for level in [Idempotency.noSideEffects, .idempotent] {
            let safe = MethodDescriptor(service: EchoTestService.fail.service, method: EchoTestService.fail.method,
                                        idempotency: level)
            XCTAssertEqual(safe, EchoTestService.fail, "idempotency is not part of a descriptor's identity")
            XCTAssertTrue(Set([EchoTestService.fail]).contains(safe))
            XCTAssertThrowsError(try client.unary(safe, request: unavailable, options: CallOptions()))
            retried += 1
            XCTAssertEqual(client.retries, retried, "a \(level) call is tried on the other server")
            // Other statuses are answers, not failures of the server: never retried.
            let denied = [StatusCode.permissionDenied.rawValue] + Array("no".utf8)
            XCTAssertThrowsError(try client.unary(safe, request: denied, options: CallOptions()))
            XCTAssertEqual(client.retries, retried)
        }
    }

    /// ABORTED: a write that conflicted and was rolled back took no effect, so any method moves on.
    func testAbortedCallsAreRetriedWhateverTheMethod() throws {
        let a = try TestHarness.startServer(), b = try TestHarness.startServer()
        defer { a.shutdown(grace: .seconds(1)); b.shutdown(grace: .seconds(1)) }
        let aborted = [StatusCode.aborted.rawValue] + Array("conflict".utf8)
        let client = try BalancedClient(configurations: [configuration(a.port), configuration(b.port)])
        XCTAssertEqual(EchoTestService.fail.idempotency, .unknown)
        XCTAssertThrowsError(try client.unary(EchoTestService.fail, request: aborted, options: CallOptions())) {
            XCTAssertEqual(($0 as? RPCError)?.code, .aborted, "both servers answered ABORTED")
        }
        XCTAssertEqual(client.retries, 1, "tried on the other server")
    }

    func testDeadlineHoldsAcrossAttempts() async throws {
        let a = try TestHarness.startServer()
        defer { a.shutdown(grace: .seconds(1)) }
        let client = try BalancedClient(configurations: [configuration(try closedPort()), configuration(a.port)])
        let started = ContinuousClock.now
        do {
            _ = try await client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 2000),
                                       options: CallOptions(timeout: .milliseconds(300)))
            XCTFail("expected DEADLINE_EXCEEDED")
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .deadlineExceeded)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }
}
