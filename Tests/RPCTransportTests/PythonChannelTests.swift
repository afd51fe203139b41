import Foundation
import RPCCore
@testable import RPCTransport
import TestSupport
import XCTest

/// Runs the Python channel's tests (clients/python/tests/test_channel.py) against live servers.
final class PythonChannelTests: XCTestCase {
    func testPythonChannelAgainstLiveServers() throws {
        let python: URL
        do {
            python = try TestEnvironment.python()
        } catch {
            throw XCTSkip("\(error)")
        }
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let mtls = try TestHarness.startServer(clientCertificates: .required)
        defer { mtls.shutdown(grace: .seconds(1)) }
        let control = ControlTestService()
        let doomed = try TestHarness.startServer(extraServices: [control])
        control.server = doomed
        defer { doomed.shutdown(grace: .seconds(1)) }
        let certs = try TestCertificates.shared()
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        environment["AUTHRPC_TEST_PORT"] = String(server.port)
        environment["AUTHRPC_TEST_MTLS_PORT"] = String(mtls.port)
        environment["AUTHRPC_TEST_SHUTDOWN_PORT"] = String(doomed.port)
        environment["AUTHRPC_TEST_CA"] = certs.caFile
        environment["AUTHRPC_TEST_CLIENT_CERT"] = certs.clientCertificateFile
        environment["AUTHRPC_TEST_CLIENT_KEY"] = certs.clientKeyFile
        let testFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_channel.py").path
        let result = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", testFile],
                                           environment: environment, timeout: 120)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse(result.stdout.contains("skipped"), result.stdout)
        XCTAssertGreaterThanOrEqual(server.statistics.compressedRequests, 1, "the Python client compressed a large request")
        XCTAssertGreaterThanOrEqual(server.statistics.compressedReplies, 1)
    }
}
