import AuthAPI
import AuthClient
import AuthCore
import Foundation
import RPCCore
@testable import AuthService
import XCTest

/// `ValidateFastPath.Fields` takes exactly the requests of fields 1 to 3, ASCII, and declines the rest;
/// its replies are byte for byte the generated path's.
final class ValidateFastPathTests: XCTestCase {
    private func token(_ bytes: [UInt8]) -> [UInt8]? {
        bytes.withUnsafeBufferPointer { ValidateFastPath.Fields($0).map { Array($0.token) } }
    }

    func testEmptyMessageIsTheEmptyToken() {
        XCTAssertEqual(token([]), [])
    }

    func testOneTokenField() {
        XCTAssertEqual(token([0x0A, 3, 0x61, 0x62, 0x63]), Array("abc".utf8))
        XCTAssertEqual(token([0x0A, 0]), [], "an empty token field")
        let long = [UInt8](repeating: 0x41, count: 300)  // length 300: a two-byte varint (0xAC 0x02)
        XCTAssertEqual(token([0x0A, 0xAC, 0x02] + long), long)
        let longer = [UInt8](repeating: 0x42, count: 20_000)  // a three-byte varint (0xA0 0x9C 0x01)
        XCTAssertEqual(token([0x0A, 0xA0, 0x9C, 0x01] + longer), longer)
    }

    func testRepeatedFieldDeclines() {
        XCTAssertNil(token([0x0A, 1, 0x61, 0x0A, 1, 0x62]))
    }

    func testOtherFieldsDecline() {
        XCTAssertNil(token([0x22, 1, 0x61]), "field 4")
        XCTAssertNil(token([0x1A, 1, 0x61, 0x1A, 1, 0x62]), "audience twice")
        XCTAssertNil(token([0x08, 1]), "field 1 as a varint")
        XCTAssertNil(token([0x0A, 1, 0x61, 0x10, 1]), "token then another field")
        XCTAssertNil(token([0x10, 1, 0x0A, 1, 0x61]), "another field then token")
    }

    func testRequiredScopesAndAudienceAreRead() {
        let scoped: [UInt8] = [0x0A, 1, 0x61, 0x12, 1, 0x73, 0x12, 1, 0x74, 0x1A, 1, 0x75]
        let fields = scoped.withUnsafeBufferPointer { ValidateFastPath.Fields($0).map { (Array($0.token), $0.hasConditions) } }
        XCTAssertEqual(fields?.0, Array("a".utf8))
        XCTAssertEqual(fields?.1, true)
        XCTAssertEqual([0x0A, 1, 0x61, 0x1A, 0].withUnsafeBufferPointer { ValidateFastPath.Fields($0)?.hasConditions }, false,
                       "an empty audience is no condition")
        XCTAssertNil(token([0x0A, 1, 0x61, 0x12, 1, 0xFF]), "a scope that is not ASCII")
    }

    func testNonASCIITokenDeclines() {
        XCTAssertNil(token([0x0A, 2, 0xC3, 0xA9]), "é: valid UTF-8, not ASCII")
        XCTAssertNil(token([0x0A, 1, 0xFF]), "not UTF-8 at all")
    }

    func testMalformedLengthsDecline() {
        XCTAssertNil(token([0x0A]), "tag without a length")
        XCTAssertNil(token([0x0A, 0x80]), "truncated varint")
        XCTAssertNil(token([0x0A, 0x85, 0x80]), "truncated two-byte varint")
        XCTAssertNil(token([0x0A, 5, 0x61]), "length past the end")
        XCTAssertNil(token([0x0A, 1, 0x61, 0x62]), "bytes after the field")
        XCTAssertNil(token([0x0A, 0x80, 0x80, 0x80, 0x01] + [UInt8](repeating: 0x41, count: 8)), "a four-byte varint")
        XCTAssertNil(token([0x0A, 0x81, 0x80, 0x80, 0x00, 0x41]), "an overlong varint")
    }

    /// The fast path and the generated path give the same bytes for the same request.
    func testFastAndGeneratedRepliesAreByteIdentical() throws {
        let fixture = try AuthServiceFixture()
        defer { fixture.stop() }
        let live = try fixture.register()
        let revoked = try fixture.register("bob@example.com")
        _ = try fixture.client.logout(LogoutRequest(), options: .bearer(revoked.token))
        let generated = Auth.service(fixture.handler).methods.first { $0.descriptor == Auth.Method.validate }!
        let requests: [[UInt8]] = [
            ValidateRequest(token: live.token).serializedBytes(),
            ValidateRequest(token: revoked.token).serializedBytes(),
            ValidateRequest(token: "not.a.token").serializedBytes(),
            ValidateRequest(token: "").serializedBytes(),
            [0x0A, 0],
            ValidateRequest(token: live.token, requiredScopes: ["orders:read"]).serializedBytes(),
            ValidateRequest(token: live.token, audience: "billing").serializedBytes(),
            ValidateRequest(token: revoked.token, requiredScopes: ["orders:read"]).serializedBytes(),
        ]
        for request in requests {
            let fast = try XCTUnwrap(ValidateFastPath.reply(to: request, handler: fixture.handler), "fast path declined \(request.prefix(8))")
            XCTAssertEqual(fast, try generated.handler(request, ServerContext()))
            // And through the transport, where the served method takes the fast path.
            XCTAssertEqual(try fixture.server.transport().unary(Auth.Method.validate, request: request, options: CallOptions()), fast)
        }
        fixture.clock.advance(fixture.core.configuration.accessTokenLifetime + .seconds(60))
        let expired = ValidateRequest(token: live.token).serializedBytes()
        XCTAssertEqual(try ValidateFastPath.reply(to: expired, handler: fixture.handler), try generated.handler(expired, ServerContext()))
    }
}
