import AuthAPI
import AuthClient
import AuthCore
import Foundation
import RPCCore
import RPCDispatch
@testable import AuthService
import TestSupport
import XCTest

/// Past the revocation staleness bound Validate answers UNAVAILABLE as a status (the fast path
/// and the generated path alike), never OK with a verdict, and Health says NOT_SERVING.
final class ValidateFailsClosedTests: XCTestCase {
    func testValidateIsUnavailableWhileTheRevocationFeedIsStale() throws {
        let clock = TestClock(), store = InMemoryAuthStore()
        var configuration = AuthConfiguration(signingKeys: ["k1": Array("0123456789abcdef0123456789abcdef-key-one".utf8)],
                                              activeKeyID: "k1")
        configuration.passwordHashing = Argon2Parameters(memoryKiB: 64, iterations: 1)
        configuration.revocationPollInterval = .milliseconds(20)
        configuration.revocationMaxStaleness = .seconds(5)
        configuration.healthProbeInterval = .milliseconds(20)
        configuration.healthStaleness = .seconds(60)
        let core = try AuthCore(configuration: configuration, store: store, now: clock.function, logger: AuthServiceFixture.logger)
        try core.start()
        defer { core.stop() }
        let server = InProcessServer(services: [AuthServiceHandler.service(core: core, logger: AuthServiceFixture.logger, now: clock.function)],
                                     workerThreads: 2, logger: AuthServiceFixture.logger)
        try server.start()
        defer { server.shutdown(grace: .seconds(1)) }
        let transport = server.transport(defaultTimeout: .seconds(30))
        let client = Auth.Client(transport: transport)
        let tokens = try client.register(RegisterRequest(email: "fc@example.com", password: "correct horse battery"))
        // The same request the generated path decodes (token given twice: the fast path declines, the last one counts).
        let token = Array(tokens.token.utf8)
        let twice: [UInt8] = [0x0A, 1, 0x41] + [0x0A] + varint(token.count) + token
        XCTAssertTrue(try client.validate(ValidateRequest(token: tokens.token)).valid)
        XCTAssertTrue(try ValidateReply(serializedBytes: transport.unary(Auth.Method.validate, request: twice, options: CallOptions())).valid)

        store.failingFeed.withLock { $0 = true }
        Thread.sleep(forTimeInterval: 0.2)
        clock.advance(6)
        let expected = RPCError(.unavailable, AuthError.revocationsStale.message)
        XCTAssertEqual(rpcError { _ = try client.validate(ValidateRequest(token: tokens.token)) }, expected, "fast path")
        XCTAssertEqual(rpcError { _ = try transport.unary(Auth.Method.validate, request: twice, options: CallOptions()) }, expected,
                       "generated path")
        XCTAssertEqual(rpcError { _ = try client.status(StatusRequest(), options: .bearer(tokens.token)) }?.code, .unavailable)
        XCTAssertEqual(try client.health(HealthRequest()).status, .notServing)
        XCTAssertEqual(try client.validate(ValidateRequest(token: "junk")).refusal, .invalid)

        store.failingFeed.withLock { $0 = false }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { (try? client.validate(ValidateRequest(token: tokens.token)).valid) == true })
        XCTAssertEqual(try client.health(HealthRequest()).status, .serving)
    }

    private func varint(_ n: Int) -> [UInt8] {
        var n = n, out: [UInt8] = []
        while n >= 0x80 { out.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
        out.append(UInt8(n))
        return out
    }
}
