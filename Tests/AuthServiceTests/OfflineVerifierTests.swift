import AuthAPI
import AuthClient
import AuthCore
import Foundation
import Logging
import RPCCore
import RPCDispatch
@testable import AuthService
import TestSupport
import XCTest

/// The Swift client's offline verifier against a key-set core over the in-process transport:
/// verifies tokens with the fetched key set, refuses forgeries, caches the set for its max age
/// and fetches it again for a kid it has not seen.
final class OfflineVerifierTests: XCTestCase {
    func testVerifiesCachesAndRefreshesOnAnUnknownKid() throws {
        let clock = TestClock(Date())
        let store = InMemoryAuthStore()
        let kek = KeyEncryptionKey.random()
        var configuration = AuthTestConfiguration.make(issuer: "auth-tests", audience: "internal")
        configuration.keySet = KeySetConfiguration(encryptionKey: kek, publishLead: .seconds(20))
        let core = try AuthCore(configuration: configuration, store: store, now: clock.function, logger: AuthServiceFixture.logger)
        let server = InProcessServer(services: [AuthServiceHandler.service(core: core, logger: AuthServiceFixture.logger, now: clock.function)],
                                     workerThreads: 2, logger: AuthServiceFixture.logger)
        try server.start()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = Auth.Client(transport: server.transport(defaultTimeout: .seconds(30)))
        let verifier = OfflineVerifier(client: client, issuer: "auth-tests", audience: "internal", leeway: 0, now: clock.function)

        let tokens = try client.register(RegisterRequest(email: "offline@example.com", password: "a long passphrase"))
        let claims = try verifier.verify(tokens.token)
        XCTAssertEqual(claims.userID, tokens.userId)
        XCTAssertEqual(claims.keyID, core.signingKeyID)

        // Forgeries: a changed payload, HS256, a stranger's kid; and the wrong audience.
        let parts = tokens.token.split(separator: ".").map(String.init)
        let changed = parts[0] + "." + parts[1].dropLast(2) + "AA" + "." + parts[2]
        XCTAssertThrowsError(try verifier.verify(changed))
        let hsHeader = Data(#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "")
        XCTAssertThrowsError(try verifier.verify(hsHeader + "." + parts[1] + "." + parts[2])) { XCTAssertEqual($0 as? OfflineVerifier.Failure, .unknownKey) }
        XCTAssertThrowsError(try OfflineVerifier(client: client, audience: "elsewhere", now: clock.function).verify(tokens.token)) {
            XCTAssertEqual($0 as? OfflineVerifier.Failure, .wrongAudience)
        }

        // A new key signs (lead passed); the verifier's cached set lacks it, so it fetches again.
        _ = try KeySetAdministration.generate(.eddsa, store: store, encryptionKey: kek, publishLead: .seconds(20), now: clock.now)
        clock.advance(20)
        try core.refreshKeys()
        let next = try client.login(LoginRequest(email: "offline@example.com", password: "a long passphrase"))
        XCTAssertEqual(try verifier.verify(next.token).keyID, core.signingKeyID)
        XCTAssertNotEqual(core.signingKeyID, claims.keyID)
        // Past its exp, the first token is refused.
        clock.advance(Double(configuration.accessTokenLifetime / .seconds(1)))
        XCTAssertThrowsError(try verifier.verify(tokens.token)) { XCTAssertEqual($0 as? OfflineVerifier.Failure, .expired) }
    }
}
