import AuthCore
import Foundation
import Support
import TestSupport
import XCTest

/// Service accounts on every store: client credentials, scopes, rotation with its grace,
/// certificate bindings, disabling and deleting through the revocation feed, throttling, audit,
/// and users' roles in their tokens.
final class ServiceAccountTests: StoreTestCase {
    static let kek = KeyEncryptionKey.random()

    static func configuration(grace: Duration = .seconds(60), throttle: ThrottlePolicy = .default) -> AuthConfiguration {
        var c = Fixtures.configuration(throttle: throttle)
        c.serviceSecretKey = kek
        c.serviceSecretGrace = grace
        return c
    }

    private func claims(_ core: AuthCore, _ token: String, line: UInt = #line) -> AccessClaims? {
        guard case .valid(let c) = core.validate(token: token) else {
            XCTFail("token refused: \(core.validate(token: token))", line: line)
            return nil
        }
        return c
    }

    func testTokenBySecretCarriesTheServiceAndItsScopes() {
        forEachStore { f in
            let core = try f.core(Self.configuration())
            let created = try core.createService(clientID: "billing", scopes: ["orders:read", "orders:write"], authority: .operatorCommand)
            XCTAssertEqual(created.clientID, "billing")
            XCTAssertTrue(created.clientSecret.hasPrefix("cs_"))
            XCTAssertEqual(created.clientSecret.utf8.count, 46, "cs_ and 256 bits in base64url")

            let all = try core.serviceToken(clientID: "billing", secret: created.clientSecret, scopes: [], certificate: nil,
                                            clientAddress: "10.0.0.1")
            XCTAssertEqual(all.scopes, ["orders:read", "orders:write"])
            XCTAssertEqual(all.expiresAt.timeIntervalSince(f.clock.now), 600, accuracy: 1, "10 minutes by default")
            let c = try XCTUnwrap(claims(core, all.accessToken))
            XCTAssertTrue(c.isService)
            XCTAssertEqual(c.subject, "svc:billing")
            XCTAssertEqual(c.clientID, "billing")
            XCTAssertLessThan(c.userID, 0, "a service's revocation key is never a user id")
            XCTAssertNil(c.sessionID)

            let some = try core.serviceToken(clientID: "billing", secret: created.clientSecret, scopes: ["orders:read"], certificate: nil,
                                             clientAddress: "10.0.0.1")
            XCTAssertEqual(claims(core, some.accessToken)?.scopes, ["orders:read"])

            XCTAssertEqual(AuthError.code {
                _ = try core.serviceToken(clientID: "billing", secret: created.clientSecret, scopes: ["admin"], certificate: nil, clientAddress: nil)
            }, .scopeNotGranted)
            for (id, secret) in [("billing", created.clientSecret + "x"), ("billing", "cs_wrong"), ("nobody", created.clientSecret),
                                 ("Not A Name", created.clientSecret)] {
                XCTAssertEqual(AuthError.code {
                    _ = try core.serviceToken(clientID: id, secret: secret, scopes: [], certificate: nil, clientAddress: nil)
                }, .invalidClientCredentials, "\(id)")
            }
            XCTAssertEqual(AuthError.code { _ = try core.createService(clientID: "billing", scopes: [], authority: .operatorCommand) },
                           .serviceExists)
            XCTAssertEqual(AuthError.code { _ = try core.createService(clientID: "Bad Name", scopes: [], authority: .operatorCommand) },
                           .invalidRequest)
            XCTAssertEqual(AuthError.code { _ = try core.createService(clientID: "x", scopes: ["a b"], authority: .operatorCommand) },
                           .invalidRequest)

            // A service token is nobody's user token.
            XCTAssertEqual(AuthError.code { _ = try core.status(token: all.accessToken) }, .tokenInvalid)

            // Stored only as the keyed hash: not the secret, not its plain SHA-256.
            let stored = try XCTUnwrap(try (f.makeStore(shared: true) as! any ServiceAccountStore).serviceAccount(clientID: "billing"))
            XCTAssertEqual(stored.secretHash, ServiceSecrets(encryptionKey: Self.kek).hash(created.clientSecret))
            XCTAssertNotEqual(stored.secretHash, ServiceSecrets(encryptionKey: .random()).hash(created.clientSecret))

            // Audited without the secret: the creation, the grants (in aggregate), the refusals.
            let events = try f.makeStore(shared: true).auditEvents(userID: nil, limit: 100)
            let kinds = Set(events.map(\.kind.rawValue))
            XCTAssertTrue(kinds.isSuperset(of: ["service_created", "service_token", "service_token_refused"]), "\(kinds)")
            XCTAssertEqual(events.filter { $0.kind == .serviceToken }.map(\.count).reduce(0, +), 2, "two grants")
            for e in events {
                XCTAssertFalse("\(e)".contains(created.clientSecret.dropFirst(3).prefix(20)), "a secret in the audit trail: \(e)")
            }
        }
    }

    func testRotatedSecretWorksDuringTheGraceOnly() {
        forEachStore { f in
            let core = try f.core(Self.configuration(grace: .seconds(60)))
            let old = try core.createService(clientID: "ci", scopes: ["deploy"], authority: .operatorCommand).clientSecret
            let (rotated, until) = try core.rotateServiceSecret(clientID: "ci", authority: .operatorCommand)
            XCTAssertNotEqual(rotated.clientSecret, old)
            XCTAssertEqual(until.timeIntervalSince(f.clock.now), 60, accuracy: 1)
            for secret in [old, rotated.clientSecret] {
                XCTAssertNoThrow(try core.serviceToken(clientID: "ci", secret: secret, scopes: [], certificate: nil, clientAddress: nil))
            }
            f.clock.advance(.seconds(61))
            XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "ci", secret: old, scopes: [], certificate: nil, clientAddress: nil) },
                           .invalidClientCredentials, "the old secret after the grace")
            XCTAssertNoThrow(try core.serviceToken(clientID: "ci", secret: rotated.clientSecret, scopes: [], certificate: nil, clientAddress: nil))
            XCTAssertEqual(AuthError.code { _ = try core.rotateServiceSecret(clientID: "nobody", authority: .operatorCommand) }, .serviceNotFound)
            XCTAssertTrue(try core.store.auditEvents(userID: nil, limit: 50).contains { $0.kind == .serviceSecretRotated })
        }
    }

    func testDisablingAndDeletingRefuseTheTokensOnEveryInstance() {
        forEachStore { f in
            let core = try f.core(Self.configuration())
            let other = try f.core(Self.configuration(), shared: true)
            try other.start()
            defer { other.stop() }
            let secret = try core.createService(clientID: "worker", scopes: [], authority: .operatorCommand).clientSecret
            let token = try core.serviceToken(clientID: "worker", secret: secret, scopes: [], certificate: nil, clientAddress: nil).accessToken
            XCTAssertEqual(claims(other, token)?.scopes, [], "a token of an account without scopes")

            try core.setServiceDisabled(clientID: "worker", disabled: true, authority: .operatorCommand)
            XCTAssertEqual(core.validate(token: token), .disabled)
            try other.pollRevocations()
            XCTAssertEqual(other.validate(token: token), .disabled, "through the feed")
            XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "worker", secret: secret, scopes: [], certificate: nil, clientAddress: nil) },
                           .accountDisabled)

            f.clock.advance(.seconds(1))
            try core.setServiceDisabled(clientID: "worker", disabled: false, authority: .operatorCommand)
            let fresh = try core.serviceToken(clientID: "worker", secret: secret, scopes: [], certificate: nil, clientAddress: nil).accessToken
            try other.pollRevocations()
            XCTAssertNotNil(claims(other, fresh))
            XCTAssertEqual(other.validate(token: token), .disabled, "tokens from before stay refused")

            try core.deleteService(clientID: "worker", authority: .operatorCommand)
            try other.pollRevocations()
            XCTAssertEqual(other.validate(token: fresh), .revoked)
            XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "worker", secret: secret, scopes: [], certificate: nil, clientAddress: nil) },
                           .invalidClientCredentials)
            XCTAssertEqual(AuthError.code { try core.deleteService(clientID: "worker", authority: .operatorCommand) }, .serviceNotFound)
        }
    }

    func testBoundCertificateGetsATokenWithoutASecret() {
        forEachStore { f in
            var configuration = Self.configuration()
            configuration.followServiceBindings = true
            let core = try f.core(configuration)
            _ = try core.createService(clientID: "mesh", scopes: ["read"], authority: .operatorCommand)
            _ = try core.createService(clientID: "legacy", scopes: [], authority: .operatorCommand)
            let spiffe = CertificateIdentity(subject: "/CN=mesh-1", uriSAN: "spiffe://example.org/mesh")
            XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "", secret: "", scopes: [], certificate: spiffe, clientAddress: nil) },
                           .invalidClientCredentials, "not bound yet")
            try core.bindServiceCertificate(clientID: "mesh", certificate: CertificateIdentity(subject: nil, uriSAN: "spiffe://example.org/mesh"),
                                            authority: .operatorCommand)
            try core.bindServiceCertificate(clientID: "legacy", certificate: CertificateIdentity(subject: "/CN=legacy", uriSAN: nil),
                                            authority: .operatorCommand)
            let token = try core.serviceToken(clientID: "", secret: "", scopes: [], certificate: spiffe, clientAddress: nil)
            XCTAssertEqual(token.clientID, "mesh")
            XCTAssertEqual(claims(core, token.accessToken)?.subject, "svc:mesh")
            XCTAssertEqual(try core.serviceToken(clientID: "legacy", secret: "", scopes: [], certificate: CertificateIdentity(subject: "/CN=legacy", uriSAN: nil),
                                                 clientAddress: nil).clientID, "legacy")
            XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "legacy", secret: "", scopes: [], certificate: spiffe, clientAddress: nil) },
                           .invalidClientCredentials, "a certificate bound to another account")
            XCTAssertEqual(AuthError.code {
                try core.bindServiceCertificate(clientID: "legacy", certificate: CertificateIdentity(subject: nil, uriSAN: "spiffe://example.org/mesh"),
                                                authority: .operatorCommand)
            }, .invalidRequest, "one certificate, one account")

            try core.refreshServiceBindings()
            XCTAssertTrue(core.serviceCertificateBound(subject: "/CN=anything", uriSAN: "spiffe://example.org/mesh"))
            XCTAssertTrue(core.serviceCertificateBound(subject: "/CN=legacy", uriSAN: nil))
            XCTAssertFalse(core.serviceCertificateBound(subject: "/CN=stranger", uriSAN: nil))
            try core.setServiceDisabled(clientID: "mesh", disabled: true, authority: .operatorCommand)
            try core.refreshServiceBindings()
            XCTAssertFalse(core.serviceCertificateBound(subject: nil, uriSAN: "spiffe://example.org/mesh"), "a disabled account's binding")
        }
    }

    func testFailedAttemptsAreThrottledPerClientID() {
        forEachStore { f in
            var throttle = ThrottlePolicy.default
            throttle.accountLimit = 3
            let core = try f.core(Self.configuration(throttle: throttle))
            let secret = try core.createService(clientID: "target", scopes: [], authority: .operatorCommand).clientSecret
            for _ in 0..<3 {
                XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "target", secret: "cs_guess", scopes: [], certificate: nil, clientAddress: nil) },
                               .invalidClientCredentials)
            }
            XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "target", secret: "cs_guess", scopes: [], certificate: nil, clientAddress: nil) },
                           .throttled)
            XCTAssertEqual(AuthError.code { _ = try core.serviceToken(clientID: "target", secret: secret, scopes: [], certificate: nil, clientAddress: nil) },
                           .throttled, "while throttled even the right secret waits")
            f.clock.advance(throttle.accountWindow + .seconds(1))
            XCTAssertNoThrow(try core.serviceToken(clientID: "target", secret: secret, scopes: [], certificate: nil, clientAddress: nil))
            XCTAssertTrue(try core.store.auditEvents(userID: nil, limit: 50).contains { $0.kind == .serviceTokenThrottled })
        }
    }

    func testUsersCarryTheirRoles() {
        forEachStore { f in
            let core = try f.core(Self.configuration())
            _ = try core.register(email: "ada@example.com", password: "correct horse battery", clientAddress: nil)
            try core.setRole(email: "ada@example.com", role: "support", granted: true, authority: .operatorCommand)
            try core.setRole(email: "ada@example.com", role: "billing:admin", granted: true, authority: .operatorCommand)
            let tokens = try core.login(email: "ada@example.com", password: "correct horse battery", clientAddress: nil)
            let c = try XCTUnwrap(claims(core, tokens.accessToken))
            XCTAssertEqual(c.roles, ["billing:admin", "support"])
            XCTAssertFalse(c.isService)
            XCTAssertEqual(c.subject, String(tokens.userID))
            XCTAssertEqual(c.scopes, [])
            try core.setRole(email: "ada@example.com", role: "support", granted: false, authority: .operatorCommand)
            let again = try core.login(email: "ada@example.com", password: "correct horse battery", clientAddress: nil)
            XCTAssertEqual(claims(core, again.accessToken)?.roles, ["billing:admin"])
            XCTAssertEqual(try core.roles(email: "ada@example.com", authority: .operatorCommand), ["billing:admin"])
            XCTAssertEqual(AuthError.code { try core.setRole(email: "nobody@example.com", role: "x", granted: true, authority: .operatorCommand) },
                           .userNotFound)
            XCTAssertEqual(AuthError.code { try core.setRole(email: "ada@example.com", role: "has space", granted: true, authority: .operatorCommand) },
                           .invalidRequest)
        }
    }

    func testAUserHoldsAtMostTheMaximumNumberOfRoles() {
        forEachStore { f in
            let core = try f.core(Self.configuration())
            _ = try core.register(email: "ben@example.com", password: "correct horse battery", clientAddress: nil)
            for i in 0..<ServiceIdentity.maximumNames {
                try core.setRole(email: "ben@example.com", role: "r\(i)", granted: true, authority: .operatorCommand)
            }
            XCTAssertEqual(AuthError.code { try core.setRole(email: "ben@example.com", role: "one-more", granted: true,
                                                              authority: .operatorCommand) }, .invalidRequest)
            // Granting a role already held, or withdrawing one, is not refused at the limit.
            try core.setRole(email: "ben@example.com", role: "r0", granted: true, authority: .operatorCommand)
            try core.setRole(email: "ben@example.com", role: "r0", granted: false, authority: .operatorCommand)
            try core.setRole(email: "ben@example.com", role: "one-more", granted: true, authority: .operatorCommand)
            XCTAssertEqual(try core.roles(email: "ben@example.com", authority: .operatorCommand).count, ServiceIdentity.maximumNames)
            XCTAssertEqual(AuthError.code { try core.roles(email: "not an email", authority: .operatorCommand) }, .invalidEmail)
        }
    }

    func testRevocationKeysAreNegativeAndDistinct() {
        let keys = (0..<1000).map { ServiceIdentity.revocationKey("svc-\($0)") }
        XCTAssertTrue(keys.allSatisfy { $0 < 0 })
        XCTAssertEqual(Set(keys).count, keys.count)
        XCTAssertEqual(ServiceIdentity.parseList(" a:read , b/write,a:read"), ["a:read", "b/write"])
        XCTAssertNil(ServiceIdentity.parseList("a b"))
        XCTAssertEqual(ServiceIdentity.parseList(""), [])
    }
}
