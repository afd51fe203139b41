import AuthAPI
import AuthClient
import AuthCore
import Foundation
import RPCCore
import RPCDispatch
import StandardAPI
@testable import AuthService
import TestSupport
import XCTest

/// ServiceToken and what Validate answers about subjects and scopes, over the in-process
/// transport: statuses and messages, required scopes and audience (FORBIDDEN), and
/// `--validate-callers authenticated`.
final class ServiceTokenTests: XCTestCase {
    private var clock: TestClock!
    private var core: AuthCore!
    private var servers: [InProcessServer] = []

    override func setUpWithError() throws {
        clock = TestClock()
        var configuration = AuthTestConfiguration.make()  // audience "internal"
        configuration.serviceSecretKey = .random()
        core = try AuthCore(configuration: configuration, store: InMemoryAuthStore(), now: clock.function, logger: AuthServiceFixture.logger)
    }

    override func tearDown() {
        servers.forEach { $0.shutdown(grace: .seconds(1)) }
        servers = []
    }

    private func client(_ callers: ValidateCallers = .any) throws -> Auth.Client {
        try Auth.Client(transport: transport(callers))
    }

    /// A server of `Auth` and Envoy's `Authorization` (as authd serves them) with `callers`.
    private func transport(_ callers: ValidateCallers) throws -> InProcessTransport {
        let logger = AuthServiceFixture.logger
        let server = InProcessServer(services: [
            AuthServiceHandler.service(core: core, logger: logger, now: clock.function, validateCallers: callers),
            ExternalAuthorizationService.service(core: core, logger: logger, validateCallers: callers, now: clock.function),
        ], workerThreads: 2, logger: logger)
        try server.start()
        servers.append(server)
        return server.transport(defaultTimeout: .seconds(30))
    }

    func testServiceTokenAndValidateWithRequiredScopes() throws {
        let auth = try client()
        let secret = try core.createService(clientID: "billing", scopes: ["orders:read", "orders:write"], authority: .operatorCommand).clientSecret
        let issued = try auth.serviceToken(ServiceTokenRequest(clientId: "billing", clientSecret: secret, scopes: ["orders:read"]))
        XCTAssertEqual(issued.scopes, ["orders:read"])
        XCTAssertEqual(issued.refreshToken, "", "no refresh token for a service")
        XCTAssertEqual(issued.userId, 0)

        let plain = try auth.validate(ValidateRequest(token: issued.token))
        XCTAssertTrue(plain.valid)
        XCTAssertEqual(plain.kind, .service)
        XCTAssertEqual(plain.subject, "svc:billing")
        XCTAssertEqual(plain.scopes, ["orders:read"])
        XCTAssertEqual(plain.userId, 0)
        XCTAssertTrue(try auth.validate(ValidateRequest(token: issued.token, requiredScopes: ["orders:read"])).valid)
        XCTAssertTrue(try auth.validate(ValidateRequest(token: issued.token, audience: "internal")).valid)
        for request in [ValidateRequest(token: issued.token, requiredScopes: ["orders:read", "orders:write"]),
                        ValidateRequest(token: issued.token, audience: "elsewhere")] {
            let refused = try auth.validate(request)
            XCTAssertFalse(refused.valid)
            XCTAssertEqual(refused.refusal, .forbidden)
            XCTAssertEqual(refused.message, "Insufficient scope.")
        }

        let user = try auth.register(RegisterRequest(email: "ada@example.com", password: "correct horse battery"))
        let asUser = try auth.validate(ValidateRequest(token: user.token))
        XCTAssertEqual(asUser.kind, .user)
        XCTAssertEqual(asUser.subject, String(user.userId))
        XCTAssertEqual(try auth.validate(ValidateRequest(token: user.token, requiredScopes: ["orders:read"])).refusal, .forbidden)
        XCTAssertEqual(try auth.validate(ValidateRequest(token: "not.a.token", requiredScopes: ["orders:read"])).refusal, .invalid,
                       "a bad token is refused as such, required scopes or not")

        var error = rpcError { _ = try auth.serviceToken(ServiceTokenRequest(clientId: "billing", clientSecret: "cs_nope")) }
        XCTAssertEqual(error?.code, .unauthenticated)
        XCTAssertEqual(error?.message, "Invalid client credentials.")
        error = rpcError { _ = try auth.serviceToken(ServiceTokenRequest(clientId: "billing", clientSecret: secret, scopes: ["admin"])) }
        XCTAssertEqual(error?.code, .permissionDenied)
        XCTAssertEqual(error?.message, "Scope not granted to this service.")
        error = rpcError { _ = try auth.serviceToken(ServiceTokenRequest()) }
        XCTAssertEqual(error?.code, .unauthenticated, "no secret and no certificate")
    }

    func testValidateCallersAuthenticatedRefusesAnonymousCallers() throws {
        let auth = try client(.authenticated)
        let secret = try core.createService(clientID: "gateway", scopes: [], authority: .operatorCommand).clientSecret
        let service = try auth.serviceToken(ServiceTokenRequest(clientId: "gateway", clientSecret: secret))
        let user = try auth.register(RegisterRequest(email: "ada@example.com", password: "correct horse battery"))

        for options in [CallOptions(), .bearer(user.token), .bearer("not.a.token")] {
            let error = rpcError { _ = try auth.validate(ValidateRequest(token: user.token), options: options) }
            XCTAssertEqual(error?.code, .unauthenticated)
            XCTAssertEqual(error?.message, "Validate requires a service token or a bound client certificate.")
        }
        let answer = try auth.validate(ValidateRequest(token: user.token), options: .bearer(service.token))
        XCTAssertTrue(answer.valid)
        XCTAssertEqual(answer.userId, user.userId)

        // The default serves anyone, as before.
        XCTAssertTrue(try client().validate(ValidateRequest(token: user.token)).valid)
    }

    /// Envoy's Check answers what Validate answers, so it asks the same of its caller: no way around
    /// `--validate-callers authenticated` through ext_authz.
    func testValidateCallersAuthenticatedAppliesToEnvoyCheck() throws {
        let envoy = try Envoy_Service_Auth_V3_Authorization.Client(transport: transport(.authenticated))
        let secret = try core.createService(clientID: "envoy", scopes: [], authority: .operatorCommand).clientSecret
        let service = try client().serviceToken(ServiceTokenRequest(clientId: "envoy", clientSecret: secret))
        let user = try client().register(RegisterRequest(email: "ada@example.com", password: "correct horse battery"))
        var http = Envoy_Service_Auth_V3_AttributeContext.HttpRequest(method: "GET", path: "/x")
        http.headers.append(.init(key: "authorization", value: "Bearer \(user.token)"))
        let request = Envoy_Service_Auth_V3_CheckRequest(attributes: .init(request: .init(http: http)))

        for options in [CallOptions(), .bearer(user.token)] {
            let error = rpcError { _ = try envoy.check(request, options: options) }
            XCTAssertEqual(error?.code, .unauthenticated)
            XCTAssertEqual(error?.message, "Validate requires a service token or a bound client certificate.")
        }
        let answer = try envoy.check(request, options: .bearer(service.token))
        XCTAssertEqual(answer.status?.code, 0, "OK for the user's token")
        XCTAssertEqual(answer.okResponse?.headers.first?.header?.value, String(user.userId))
    }
}
