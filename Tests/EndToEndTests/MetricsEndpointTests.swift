import AuthAPI
import AuthClient
import Foundation
import Glibc
import RPCCore
import TestSupport
import XCTest

/// authd's metrics listener (`--metrics-listen`) over real HTTP: the exposition after real calls,
/// checked by `promtool`; the probes; what it refuses (other paths, methods, oversized heads);
/// and /readyz following a MariaDB that the test stops and starts.
final class MetricsEndpointTests: XCTestCase {
    func testExpositionCountsCallsAndPassesPromtool() throws {
        let port = try freeLoopbackPort()
        let authd = try AuthdProcess.start(arguments: ["--metrics-listen", "127.0.0.1:\(port)"])
        defer { authd.stop() }
        let connection = try authd.connect()
        defer { connection.close() }
        let client = Auth.Client(transport: connection)
        let tokens = try client.register(RegisterRequest(email: uniqueEmail("metrics"), password: "pw-\(UUID().uuidString)"))
        for _ in 0..<100 { XCTAssertTrue(try client.validate(ValidateRequest(token: tokens.token)).valid) }
        XCTAssertFalse(try client.validate(ValidateRequest(token: "not-a-token")).valid)

        let reply = try httpGet(port: port, "/metrics")
        XCTAssertEqual(reply.status, 200)
        XCTAssertTrue(reply.headers.contains("Content-Type: text/plain; version=0.0.4"), reply.headers)
        let body = reply.body
        XCTAssertEqual(sample(body, #"authd_rpc_requests_total{protocol="authrpc",method="auth.v1.Auth/Validate",code="OK"}"#), 101)
        XCTAssertEqual(sample(body, #"authd_rpc_requests_total{protocol="authrpc",method="auth.v1.Auth/Register",code="OK"}"#), 1)
        XCTAssertEqual(sample(body, #"authd_rpc_duration_seconds_count{method="auth.v1.Auth/Register"}"#), 1)
        XCTAssertGreaterThan(sample(body, #"authd_rpc_duration_seconds_sum{method="auth.v1.Auth/Register"}"#) ?? 0, 0)
        XCTAssertEqual(sample(body, #"authd_build_info{version="0.1.0"}"#), 1)
        XCTAssertEqual(sample(body, #"authd_connections{protocol="authrpc"}"#), 1)
        XCTAssertEqual(sample(body, "authd_database_up"), 1)
        // The first Validate verifies the token in full, the 99 after it hit the cache; so does "not-a-token" miss.
        XCTAssertEqual(sample(body, "authd_validate_cache_hits_total"), 99)
        XCTAssertEqual(sample(body, "authd_validate_cache_misses_total"), 2)
        XCTAssertEqual(sample(body, #"authd_throttled_total{kind="login"}"#), 0)
        XCTAssertEqual(sample(body, "authd_argon2_waiting"), 0)
        XCTAssertEqual(sample(body, "authd_db_errors_total"), 0)
        XCTAssertEqual(sample(body, #"authd_db_pool_connections{state="max"}"#), 8)
        XCTAssertGreaterThanOrEqual(sample(body, #"authd_db_pool_connections{state="idle"}"#) ?? 0, 1)
        XCTAssertLessThan(sample(body, "authd_revocation_feed_age_seconds") ?? 99, 10)
        XCTAssertGreaterThan(sample(body, "process_resident_memory_bytes") ?? 0, 1_048_576)
        XCTAssertFalse(body.contains(tokens.token), "no token in the exposition")

        let lint = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/promtool"), ["check", "metrics"], input: Data(body.utf8))
        XCTAssertEqual(lint.status, 0, "promtool: \(lint.stdout)\(lint.stderr)")

        let open = try httpGet(port: port, "/metrics", headers: ["Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5"])
        XCTAssertTrue(open.headers.contains("Content-Type: application/openmetrics-text"), open.headers)
        XCTAssertTrue(open.body.hasSuffix("# EOF\n"))
        XCTAssertTrue(open.body.contains("# TYPE authd_rpc_requests counter\n"))
    }

    func testProbesAndRefusals() throws {
        let port = try freeLoopbackPort()
        let authd = try AuthdProcess.start(arguments: ["--metrics-listen", "127.0.0.1:\(port)"])
        defer { authd.stop() }
        XCTAssertEqual(try httpGet(port: port, "/healthz").status, 200)
        let ready = try httpGet(port: port, "/readyz")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.body, "ready\n")
        XCTAssertEqual(try httpGet(port: port, "/metrics/x").status, 404)
        XCTAssertEqual(try httpGet(port: port, "/").status, 404)
        XCTAssertEqual(try httpGet(port: port, "/metrics", method: "POST").status, 405)
        XCTAssertEqual(try httpGet(port: port, "/metrics", method: "DELETE").status, 405)
        let huge = try httpGet(port: port, "/metrics", headers: ["X-Filler: " + String(repeating: "a", count: 9_000)])
        XCTAssertEqual(huge.status, 431)
        let head = try httpGet(port: port, "/healthz", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body, "")
        // Garbage is answered 400 and the listener keeps serving.
        let raw = try rawExchange(port: port, Array("\u{16}\u{03}\u{01}hello\r\n\r\n".utf8))
        XCTAssertTrue(raw.hasPrefix("HTTP/1.1 400 "), raw)
        XCTAssertEqual(try httpGet(port: port, "/healthz").status, 200)
        // The RPC port still speaks TLS only.
        let connection = try authd.connect()
        defer { connection.close() }
        XCTAssertEqual(try Auth.Client(transport: connection).health(HealthRequest()).status, .serving)
    }

    func testReadyzFollowsTheDatabase() throws {
        let db = try PrivateMariaDB.create()
        defer { db.destroy() }
        try db.sql("CREATE DATABASE auth_ready CHARACTER SET utf8mb4")
        let port = try freeLoopbackPort()
        let authd = try AuthdProcess.start(arguments: ["--metrics-listen", "127.0.0.1:\(port)", "--db-timeout", "2",
                                                       "--revocation-poll-ms", "200", "--revocation-max-staleness", "120"],
                                           database: db.settings(database: "auth_ready"), createDatabase: false, timeout: 60)
        defer { authd.stop() }
        XCTAssertEqual(try httpGet(port: port, "/readyz").status, 200)

        db.stop()
        var reply = (status: 0, headers: "", body: "")
        try waitUntil(timeout: .seconds(10), poll: .milliseconds(100)) {
            reply = try httpGet(port: port, "/readyz")
            return reply.status == 503
        }
        XCTAssertEqual(reply.status, 503)
        XCTAssertEqual(reply.body, "not ready: database not answering\n")
        XCTAssertEqual(try httpGet(port: port, "/healthz").status, 200, "the process is still up")
        XCTAssertEqual(sample(try httpGet(port: port, "/metrics").body, "authd_database_up"), 0)

        try db.start()
        try waitUntil(timeout: .seconds(20), poll: .milliseconds(100)) {
            try httpGet(port: port, "/readyz").status == 200
        }
        XCTAssertEqual(try httpGet(port: port, "/readyz").body, "ready\n")
    }
}
