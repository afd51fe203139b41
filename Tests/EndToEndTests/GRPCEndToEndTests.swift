import AuthAPI
import AuthClient
import Foundation
import RPCCore
import TestSupport
import XCTest

/// Standard gRPC on authd's TLS port, driven by clients no one here wrote: Python `grpcio` with
/// stubs that `grpcio-tools` generates from schema/auth.proto at test time
/// (clients/python/tests/test_grpc.py), comparing every error with authrpc/1's; and nghttp2's
/// `h2load` making gRPC Validate calls. Two servers: one with the defaults, one whose access
/// tokens live one second. Python reports every secret it used; none may appear in the logs.
final class GRPCEndToEndTests: XCTestCase {
    func testGrpcioAgainstLiveAuthd() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let short = try AuthdProcess.start(arguments: ["--access-ttl", "1", "--leeway", "0"])
        defer { short.stop() }

        let adminEmail = uniqueEmail("grpc-admin"), adminPassword = "pw-\(UUID().uuidString)"
        let connection = try authd.connect()
        defer { connection.close() }
        let registered = try Auth.Client(transport: connection).register(RegisterRequest(email: adminEmail, password: adminPassword))
        let grant = try authd.runSubcommand(["admin", "grant", adminEmail])
        XCTAssertEqual(grant.status, 0, grant.stderr)

        let secretsFile = authd.directory.appendingPathComponent("grpc-secrets.txt").path
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        environment["AUTHD_GRPC_ADDRESS"] = "\(authd.host):\(authd.port)"
        environment["AUTHD_GRPC_CA"] = authd.caFile
        environment["AUTHD_GRPC_SHORT_ADDRESS"] = "\(short.host):\(short.port)"
        environment["AUTHD_GRPC_SHORT_CA"] = short.caFile
        environment["AUTHD_GRPC_ADMIN_EMAIL"] = adminEmail
        environment["AUTHD_GRPC_ADMIN_PASSWORD"] = adminPassword
        environment["AUTHD_GRPC_SECRETS_OUT"] = secretsFile
        let testFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_grpc.py").path
        let result = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", testFile],
                                           environment: environment, timeout: 180)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse(result.stdout.contains("skipped"), result.stdout)
        XCTAssertTrue(result.stdout.contains("passed"), result.stdout)
        print("grpcio: \(result.stdout.split(separator: "\n").last ?? "")")

        XCTAssertEqual(authd.stop(dropDatabase: false), 0)
        XCTAssertEqual(short.stop(dropDatabase: false), 0)
        var secrets: Set<String> = [authd.secret, short.secret, adminPassword, registered.token, registered.refreshToken]
        let reported = (try? String(contentsOfFile: secretsFile, encoding: .utf8)) ?? ""
        secrets.formUnion(reported.split(separator: "\n").map(String.init))
        XCTAssertGreaterThan(secrets.count, 20, "Python reported the secrets it used")
        assertNoSecrets(in: authd.log + short.log, secrets)
    }

    /// h2load (nghttp2-client) sends gRPC Validate requests over TLS with ALPN h2: every one is
    /// answered 200, and (h2load reads no trailers) the server counts every one gRPC status OK
    /// (bounded: 2,000 requests).
    func testH2loadDrivesValidate() throws {
        guard let h2load = ["/usr/bin/h2load", "/usr/local/bin/h2load"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestSetupError("h2load is not installed (Debian nghttp2-client; scripts/lib.sh installs it)")
        }
        let metricsPort = try freeLoopbackPort()
        let authd = try AuthdProcess.start(arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        defer { authd.stop() }
        let connection = try authd.connect()
        defer { connection.close() }
        let tokens = try Auth.Client(transport: connection).register(RegisterRequest(email: uniqueEmail("h2load"),
                                                                                     password: "pw-\(UUID().uuidString)"))
        var body = ValidateRequest(token: tokens.token).serializedBytes()
        let length = UInt32(body.count)
        body = [0, UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)] + body
        let bodyFile = authd.directory.appendingPathComponent("validate.grpc").path
        FileManager.default.createFile(atPath: bodyFile, contents: Data(body))
        let run = try ProcessRunner.run(URL(fileURLWithPath: h2load), [
            "-n", "2000", "-c", "2", "-m", "8", "-d", bodyFile,
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "https://\(authd.host):\(authd.port)/auth.v1.Auth/Validate",
        ], environment: ProcessInfo.processInfo.environment, timeout: 60)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("2000 succeeded, 0 failed, 0 errored"), run.stdout)
        XCTAssertTrue(run.stdout.contains("status codes: 2000 2xx"), run.stdout)
        XCTAssertTrue(run.stdout.contains("Application protocol: h2"), run.stdout)
        let exposition = try httpGet(port: metricsPort, "/metrics").body
        XCTAssertEqual(sample(exposition, #"authd_rpc_requests_total{protocol="grpc",method="auth.v1.Auth/Validate",code="OK"}"#), 2000,
                       "every call's grpc-status was OK")
    }
}
