import AuthAPI
import AuthCore
import Foundation
import RPCCore
import RPCDispatch
@testable import AuthService
import StandardAPI
import TestSupport
import XCTest

/// gRPC health, server reflection and Envoy's ext_authz, in process on the Auth fixture's core.
final class StandardServicesTests: XCTestCase {
    private var fixture: AuthServiceFixture!
    private var server: InProcessServer!
    private var transport: (any ClientTransport)!

    override func setUpWithError() throws {
        fixture = try AuthServiceFixture()
        var services: [any RPCServiceProvider] = [
            HealthService.service(core: fixture.core),
            ExternalAuthorizationService.service(core: fixture.core, logger: AuthServiceFixture.logger, now: fixture.clock.function),
        ]
        services += ReflectionService.services(listing: [Auth.name] + services.flatMap { $0.methods.map(\.descriptor.service) })
        server = InProcessServer(services: services, workerThreads: 1, logger: AuthServiceFixture.logger)
        try server.start()
        transport = server.transport(defaultTimeout: .seconds(30))
    }

    override func tearDown() {
        server.shutdown(grace: .seconds(1))
        fixture.stop()
    }

    func testKindsAndShapes() {
        let methods = HealthService.service(core: fixture.core).methods
            + ExternalAuthorizationService.service(core: fixture.core, logger: AuthServiceFixture.logger).methods
            + ReflectionService.services(listing: []).flatMap(\.methods)
        XCTAssertEqual(methods.map(\.descriptor.fullName), [
            "grpc.health.v1.Health/Check", "envoy.service.auth.v3.Authorization/Check",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ])
        XCTAssertEqual(methods.map(\.kind), [.inline, .inline, .inline, .inline])
        XCTAssertEqual(methods.map(\.shape), [.unary, .unary, .replyPerMessage, .replyPerMessage])
    }

    func testHealth() throws {
        let health = Grpc_Health_V1_Health.Client(transport: transport)
        for service in ["", "auth.v1.Auth"] {
            XCTAssertEqual(try health.check(.init(service: service)).status, .serving, service)
        }
        XCTAssertEqual(rpcError { _ = try health.check(.init(service: "nope.Service")) }?.code, .notFound)
        // Watch is a server stream the server does not serve.
        let watch = rpcError { _ = try self.transport.unary(Grpc_Health_V1_Health.Method.watch, request: [], options: CallOptions()) }
        XCTAssertEqual(watch?.code, .unimplemented)
    }

    func testReflection() throws {
        let reflection = Grpc_Reflection_V1_ServerReflection.Client(transport: transport)
        // list_services = "" is a request (a oneof member set to its default).
        let listed = try reflection.serverReflectionInfo(.init(host: "h", listServices: ""))
        XCTAssertEqual(listed.validHost, "h")
        XCTAssertEqual(listed.originalRequest?.listServices, "")
        XCTAssertEqual(listed.listServicesResponse?.service.map(\.name), [
            "auth.v1.Auth", "envoy.service.auth.v3.Authorization", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
        ])

        let byName = try reflection.serverReflectionInfo(.init(fileByFilename: "auth.proto"))
        XCTAssertEqual(byName.fileDescriptorResponse?.fileDescriptorProto, [AuthFileDescriptor.bytes])

        // A file comes with every file it imports, itself first.
        for symbol in ["envoy.service.auth.v3.Authorization", "envoy.service.auth.v3.Authorization.Check",
                       "envoy.service.auth.v3.CheckResponse", "envoy.service.auth.v3.AttributeContext.HttpRequest"] {
            let files = try reflection.serverReflectionInfo(.init(fileContainingSymbol: symbol)).fileDescriptorResponse?.fileDescriptorProto
            let expectedFirst = symbol.contains("AttributeContext") ? EnvoyServiceAuthV3AttributeContextFileDescriptor.bytes
                : EnvoyServiceAuthV3ExternalAuthFileDescriptor.bytes
            XCTAssertEqual(files?.first, expectedFirst, symbol)
        }
        let envoy = try reflection.serverReflectionInfo(.init(fileByFilename: "envoy/service/auth/v3/external_auth.proto"))
        XCTAssertEqual(envoy.fileDescriptorResponse?.fileDescriptorProto.count, 5)

        for request in [Grpc_Reflection_V1_ServerReflectionRequest(fileByFilename: "nope.proto"),
                        .init(fileContainingSymbol: "auth.v1.Nope"),
                        .init(fileContainingExtension: .init(containingType: "auth.v1.ValidateRequest", extensionNumber: 100))] {
            let answer = try reflection.serverReflectionInfo(request)
            XCTAssertEqual(answer.errorResponse?.errorCode, Int32(StatusCode.notFound.rawValue), "\(request)")
            XCTAssertNil(answer.fileDescriptorResponse)
        }
        XCTAssertEqual(try reflection.serverReflectionInfo(.init(host: "h")).errorResponse?.errorCode,
                       Int32(StatusCode.invalidArgument.rawValue))

        // v1alpha answers the same.
        let alpha = Grpc_Reflection_V1alpha_ServerReflection.Client(transport: transport)
        XCTAssertEqual(try alpha.serverReflectionInfo(.init(fileContainingSymbol: "grpc.health.v1.Health")).fileDescriptorResponse?
            .fileDescriptorProto, [GrpcHealthV1HealthFileDescriptor.bytes])
    }

    private func check(_ authorization: String?) throws -> Envoy_Service_Auth_V3_CheckResponse {
        var http = Envoy_Service_Auth_V3_AttributeContext.HttpRequest(method: "GET", path: "/x")
        http.headers.append(.init(key: ":authority", value: "example"))
        if let authorization { http.headers.append(.init(key: "authorization", value: authorization)) }
        let request = Envoy_Service_Auth_V3_CheckRequest(attributes: .init(request: .init(http: http)))
        return try Envoy_Service_Auth_V3_Authorization.Client(transport: transport).check(request)
    }

    func testEnvoyCheck() throws {
        let tokens = try fixture.register()
        let ok = try check("Bearer \(tokens.token)")
        XCTAssertEqual(ok.status?.code, 0)
        XCTAssertNil(ok.deniedResponse)
        let headers = ok.okResponse?.headers.map { [$0.header?.key ?? "", $0.header?.value ?? ""] }
        XCTAssertEqual(headers, [["x-auth-user-id", String(tokens.userId)], ["x-auth-admin", "false"],
                                 ["x-auth-subject-kind", "user"], ["x-auth-scopes", ""]])

        func assertDenied(_ answer: Envoy_Service_Auth_V3_CheckResponse, _ message: String, line: UInt = #line) {
            XCTAssertEqual(answer.status?.code, Int32(StatusCode.unauthenticated.rawValue), line: line)
            XCTAssertEqual(answer.status?.message, message, line: line)
            XCTAssertNil(answer.okResponse, line: line)
            XCTAssertEqual(answer.deniedResponse?.status?.code, .unauthorized, line: line)
            XCTAssertEqual(answer.deniedResponse?.body, message, line: line)
        }
        assertDenied(try check(nil), "Provide a valid auth token.")
        assertDenied(try check("Basic abc"), "Provide a valid auth token.")
        assertDenied(try check("Bearer not.a.token"), "Invalid token. Please log in again.")
        _ = try fixture.client.logout(LogoutRequest(), options: .bearer(tokens.token))
        assertDenied(try check("Bearer \(tokens.token)"), "Token blacklisted. Please log in again.")
        let other = try fixture.register("bob@example.com")
        fixture.clock.advance(24 * 3600)
        assertDenied(try check("Bearer \(other.token)"), "Signature expired. Please log in again.")
    }
}
