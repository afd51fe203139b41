import Foundation
import TestSupport
import XCTest

/// gRPC health, server reflection and Envoy's ext_authz on a live authd over authrpc/1, called
/// from Python with third-party messages (clients/python/tests/test_standard_services.py):
/// grpcio-health-checking's, grpcio-reflection's and xds-protos' (Envoy's own). Health is asked
/// again with the server's database stopped (NOT_SERVING) and started (SERVING). Then
/// clients/python/tests/test_grpc_standard.py: the standard gRPC clients, when the server speaks h2.
final class StandardServicesEndToEndTests: XCTestCase {
    func testStandardServicesFromPython() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let db = try PrivateMariaDB.create()
        defer { db.destroy() }
        let authd = try AuthdProcess.start(arguments: ["--db-timeout", "2"], database: db.settings(database: "auth_std"))
        defer { authd.stop() }
        let short = try AuthdProcess.start(arguments: ["--access-ttl", "1", "--leeway", "0"])
        defer { short.stop() }

        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        environment["AUTHD_STD_ADDRESS"] = "\(authd.host):\(authd.port)"
        environment["AUTHD_STD_CA"] = authd.caFile
        environment["AUTHD_STD_SHORT_ADDRESS"] = "\(short.host):\(short.port)"
        environment["AUTHD_STD_SHORT_CA"] = short.caFile
        let testFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_standard_services.py").path
        func pytest(_ extra: [String] = []) throws -> ProcessResult {
            try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", testFile] + extra,
                                  environment: environment, timeout: 120)
        }
        let run = try pytest()
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("4 passed"), run.stdout)

        // The same with the standard gRPC clients over HTTP/2.
        let grpcFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_grpc_standard.py").path
        let grpc = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", grpcFile],
                                         environment: environment, timeout: 120)
        XCTAssertEqual(grpc.status, 0, grpc.stdout + grpc.stderr)
        XCTAssertFalse(grpc.stdout.contains("skipped"), grpc.stdout)
        XCTAssertTrue(grpc.stdout.contains("3 passed"), grpc.stdout)

        // The database goes away: NOT_SERVING once the core's probe notices; then back: SERVING.
        db.stop()
        environment["AUTHD_STD_EXPECT_HEALTH"] = "NOT_SERVING"
        var down = try pytest(["-k", "test_health"])
        let deadline = Date().addingTimeInterval(20)
        while down.status != 0, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            down = try pytest(["-k", "test_health"])
        }
        XCTAssertEqual(down.status, 0, "NOT_SERVING while the database is down: " + down.stdout + down.stderr)
        try db.start()
        environment["AUTHD_STD_EXPECT_HEALTH"] = "SERVING"
        var back = try pytest(["-k", "test_health"])
        let backDeadline = Date().addingTimeInterval(30)
        while back.status != 0, Date() < backDeadline {
            Thread.sleep(forTimeInterval: 0.5)
            back = try pytest(["-k", "test_health"])
        }
        XCTAssertEqual(back.status, 0, "SERVING once the database is back: " + back.stdout + back.stderr)
    }
}
