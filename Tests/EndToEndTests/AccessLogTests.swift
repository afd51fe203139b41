import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// `authd --access-log --log-format json`: one JSON line per call with protocol, method, code,
/// duration, peer, the user when the handler knows it, and the caller's `traceparent`; never a
/// token or password. Without the flag there is no such line.
final class AccessLogTests: XCTestCase {
    func testOneJSONLinePerCallWithUserAndTraceparent() throws {
        let authd = try AuthdProcess.start(arguments: ["--access-log", "--log-format", "json"])
        defer { authd.stop() }
        let connection = try authd.connect()
        defer { connection.close() }
        let client = Auth.Client(transport: connection)
        let password = "pw-\(UUID().uuidString)"
        let tokens = try client.register(RegisterRequest(email: uniqueEmail("access"), password: password))
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        var options = CallOptions.bearer(tokens.token)
        options.metadata.add("traceparent", trace)
        let status = try client.status(StatusRequest(), options: options)
        _ = try client.validate(ValidateRequest(token: tokens.token), options: CallOptions(metadata: ["traceparent": "not-a-trace\nx"]))
        // A refused call's own authd.rpc line carries the traceparent too.
        var bad = CallOptions.bearer("not-a-token")
        bad.metadata.add("traceparent", trace)
        XCTAssertThrowsError(try client.status(StatusRequest(), options: bad))

        var lines: [[String: String]] = []
        try waitUntil(timeout: .seconds(5), poll: .milliseconds(50)) {
            lines = authd.log.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
            }.filter { $0["label"] == "authd.access" }
            return lines.count >= 4
        }
        XCTAssertEqual(lines.map { $0["method"] },
                       ["auth.v1.Auth/Register", "auth.v1.Auth/Status", "auth.v1.Auth/Validate", "auth.v1.Auth/Status"])
        XCTAssertEqual(lines[3]["code"], "UNAUTHENTICATED")
        XCTAssertEqual(lines[3]["traceparent"], trace)
        let refusal = authd.log.split(separator: "\n").first { $0.contains("\"call refused\"") }
        XCTAssertTrue(refusal?.contains(trace) == true, "\(refusal ?? "no refusal line")")
        for line in lines.prefix(3) {
            XCTAssertEqual(line["msg"], "call")
            XCTAssertEqual(line["protocol"], "authrpc")
            XCTAssertEqual(line["code"], "OK")
            XCTAssertNotNil(line["ts"])
            XCTAssertNotNil(Int(line["duration_us"] ?? ""))
            XCTAssertTrue(line["peer"]?.hasPrefix("127.0.0.1:") == true, "\(line)")
        }
        XCTAssertEqual(lines[0]["user"], "user:\(status.userId)")
        XCTAssertEqual(lines[1]["user"], "user:\(status.userId)")
        XCTAssertEqual(lines[1]["traceparent"], trace)
        XCTAssertNil(lines[0]["traceparent"])
        XCTAssertNil(lines[2]["traceparent"], "a malformed traceparent is not logged")
        assertNoSecrets(in: authd.log, [tokens.token, tokens.refreshToken, password])
    }

    func testOffByDefault() throws {
        let authd = try AuthdProcess.start(arguments: ["--log-format", "json"])
        defer { authd.stop() }
        let connection = try authd.connect()
        defer { connection.close() }
        _ = try Auth.Client(transport: connection).health(HealthRequest())
        XCTAssertFalse(authd.log.contains("authd.access"), authd.log(tail: 10))
    }
}
