import AuthAPI
import AuthClient
import DevCertificates
import Foundation
import Glibc
import RPCCore
import RPCTransport
import Support
import TestSupport
import XCTest

/// Reloading a real authd without a restart: `authd reload` (and SIGHUP) re-read the TLS
/// certificate, key and client CA; new handshakes see the new ones, open connections and the
/// calls on them go on; a failed reload changes nothing and `authd reload` exits non-zero.
final class ReloadTests: XCTestCase {
    /// A running authd with a pid file, and a second CA its clients also trust (for new certificates).
    struct Server {
        var authd: AuthdProcess
        var pidFile: String
        var newCA: CertificateFactory.Issued
        var certificateFile: String { authd.directory.appendingPathComponent("server.pem").path }
        var keyFile: String { authd.directory.appendingPathComponent("server.key").path }

        /// Writes a certificate for 127.0.0.1 named `name` (signed by `newCA`) over the server's files.
        func installCertificate(_ name: String) throws {
            let leaf = try CertificateFactory.makeLeaf(commonName: name, subjectAltNames: ["IP:127.0.0.1"], authority: newCA, days: 2)
            try CertificateFactory.write(leaf.certificatePEM, to: certificateFile, mode: 0o644)
            try CertificateFactory.write(leaf.privateKeyPEM, to: keyFile, mode: 0o600)
        }

        /// `authd reload` against this server.
        func reload() throws -> ProcessResult {
            try AuthdProcess.run(["reload", "--pid-file", pidFile, "--timeout", "10"], timeout: 30)
        }

        func presented() throws -> CertificateSummary {
            try TLSProbe.serverCertificate(port: authd.port, caFile: authd.caFile)
        }

        func client() throws -> (ClientConnection, Auth.Client) {
            let connection = try authd.connect(timeout: .seconds(5))
            return (connection, Auth.Client(transport: connection))
        }
    }

    private func start(_ arguments: [String] = []) throws -> Server {
        let pidFile = try TestEnvironment.makeTemporaryDirectory("authd-pid").appendingPathComponent("authd.pid").path
        let authd = try AuthdProcess.start(arguments: arguments, environment: ["AUTHD_PID_FILE": pidFile])
        let newCA = try CertificateFactory.makeAuthority(commonName: "authd reload test CA", days: 2)
        // The clients' trust file gets the new CA beside the one authd started with.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: authd.caFile))
        handle.seekToEndOfFile()
        handle.write(Data(newCA.certificatePEM.utf8))
        try handle.close()
        return Server(authd: authd, pidFile: pidFile, newCA: newCA)
    }

    /// The reload status authd keeps beside its pid file (generation and state of the latest reload).
    private func reloadStatus(_ server: Server) -> (generation: Int, state: String)? {
        guard let data = FileManager.default.contents(atPath: server.pidFile + ".reload"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let generation = object["generation"] as? Int, let state = object["state"] as? String,
              (object["pid"] as? Int).map(Int32.init) == server.authd.pid else { return nil }
        return (generation, state)
    }

    private func assertValid(_ client: Auth.Client, _ token: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try client.validate(ValidateRequest(token: token)).valid, true, file: file, line: line)
    }

    func testReloadPresentsTheNewCertificateAndOpenConnectionsGoOn() throws {
        let server = try start()
        defer { server.authd.stop() }
        XCTAssertEqual(try String(contentsOfFile: server.pidFile, encoding: .utf8), "\(server.authd.pid)\n")
        let before = try server.presented()
        XCTAssertEqual(before.subject, "/CN=authd test server")
        let (connection, client) = try server.client()
        defer { connection.close() }
        let tokens = try client.register(RegisterRequest(email: uniqueEmail("reload"), password: "pw-\(UUID().uuidString)"))
        assertValid(client, tokens.token)

        try server.installCertificate("authd reloaded server")
        let result = try server.reload()
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("tls: reloaded: certificate /CN=authd reloaded server"), result.stdout)
        let after = try server.presented()
        XCTAssertEqual(after.subject, "/CN=authd reloaded server")
        XCTAssertNotEqual(after.serial, before.serial)
        XCTAssertTrue(result.stdout.contains(after.serial), result.stdout)
        XCTAssertTrue(server.authd.log.contains("reload: tls reloaded"), server.authd.log(tail: 10))

        // The connection opened before the reload keeps working, the token keeps validating;
        // a new connection (new handshake) works with the new certificate.
        for _ in 0..<10 { assertValid(client, tokens.token) }
        let (fresh, freshClient) = try server.client()
        defer { fresh.close() }
        assertValid(freshClient, tokens.token)

        // A plain SIGHUP reloads too: the status file beside the pid file counts it.
        let generation = try XCTUnwrap(reloadStatus(server)?.generation)
        try server.installCertificate("authd server after SIGHUP")
        XCTAssertEqual(kill(server.authd.pid, SIGHUP), 0)
        XCTAssertTrue(waitUntil(timeout: .seconds(10)) {
            reloadStatus(server).map { $0.generation > generation && $0.state == "succeeded" } ?? false
        })
        XCTAssertEqual(try server.presented().subject, "/CN=authd server after SIGHUP")
        XCTAssertTrue(server.authd.isRunning)
        XCTAssertFalse(server.authd.log.contains("PRIVATE KEY"), "no key material in the log")

        // The pid file and the status file go when authd stops.
        XCTAssertEqual(server.authd.stop(dropDatabase: false), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.pidFile))
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.pidFile + ".reload"))
        let gone = try server.reload()
        XCTAssertEqual(gone.status, 69, gone.stderr)
        XCTAssertTrue(gone.stderr.contains("no authd running"), gone.stderr)
    }

    func testAFailedReloadChangesNothingAndExitsNonZero() throws {
        let server = try start()
        defer { server.authd.stop() }
        let before = try server.presented()
        let good = (certificate: try String(contentsOfFile: server.certificateFile, encoding: .utf8),
                    key: try String(contentsOfFile: server.keyFile, encoding: .utf8))
        let (connection, client) = try server.client()
        defer { connection.close() }
        let tokens = try client.register(RegisterRequest(email: uniqueEmail("reload"), password: "pw-\(UUID().uuidString)"))
        let other = try CertificateFactory.makeLeaf(commonName: "other", subjectAltNames: ["IP:127.0.0.1"], authority: server.newCA, days: 2)

        let cases: [(name: String, says: String, breakFiles: () throws -> Void)] = [
            ("garbage certificate", "loading the certificate chain", {
                try CertificateFactory.write("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
                                             to: server.certificateFile, mode: 0o644)
            }),
            ("key not matching the certificate", "loading the private key", {
                try CertificateFactory.write(other.certificatePEM, to: server.certificateFile, mode: 0o644)
            }),
            ("unreadable key", "cannot read the TLS key file", { try FileManager.default.removeItem(atPath: server.keyFile) }),
            ("key others may read", "is readable by others", {
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: server.keyFile)
            }),
        ]
        for c in cases {
            try c.breakFiles()
            let result = try server.reload()
            XCTAssertEqual(result.status, 1, "\(c.name): \(result.stdout) \(result.stderr)")
            XCTAssertTrue(result.stdout.contains("tls: FAILED:") && result.stdout.contains(c.says), "\(c.name): \(result.stdout)")
            XCTAssertTrue(result.stderr.contains("reload failed"), "\(c.name): \(result.stderr)")
            XCTAssertEqual(try server.presented(), before, c.name)
            assertValid(client, tokens.token)
            XCTAssertTrue(server.authd.log.contains("reload: tls failed"), server.authd.log(tail: 5))
            try CertificateFactory.write(good.certificate, to: server.certificateFile, mode: 0o644)
            try CertificateFactory.write(good.key, to: server.keyFile, mode: 0o600)
        }
        XCTAssertTrue(server.authd.isRunning)
        let (fresh, freshClient) = try server.client()
        defer { fresh.close() }
        assertValid(freshClient, tokens.token)
        XCTAssertFalse(server.authd.log.contains("PRIVATE KEY"), "no key material in the log")
        XCTAssertFalse(server.authd.log.contains(good.key.split(separator: "\n")[1]), "no key material in the log")
    }

    /// mTLS: a client certificate from a CA authd does not trust yet is refused; after the client
    /// CA file names that CA and a reload, it is accepted.
    func testClientCAReload() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("reload-client-ca")
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let oldCA = try CertificateFactory.makeAuthority(commonName: "old client CA", days: 2)
        let newCA = try CertificateFactory.makeAuthority(commonName: "new client CA", days: 2)
        try CertificateFactory.write(oldCA.certificatePEM, to: path("client-ca.pem"), mode: 0o644)
        let clientCertificate = try CertificateFactory.makeLeaf(commonName: "service", subjectAltNames: [], authority: newCA,
                                                                serverAuth: false, clientAuth: true, days: 2)
        try CertificateFactory.write(clientCertificate.certificatePEM, to: path("client.pem"), mode: 0o644)
        try CertificateFactory.write(clientCertificate.privateKeyPEM, to: path("client.key"), mode: 0o600)
        let server = try start(["--tls-client-ca", path("client-ca.pem"), "--require-client-cert"])
        defer { server.authd.stop() }
        func call() throws -> ValidateReply {
            let connection = try ClientConnection(configuration: ClientConfiguration(
                host: "127.0.0.1", port: server.authd.port,
                tls: .client(trustRootsFile: server.authd.caFile, certificateChainFile: path("client.pem"), privateKeyFile: path("client.key")),
                connectTimeout: .seconds(5), defaultTimeout: .seconds(5)))
            defer { connection.close() }
            return try Auth.Client(transport: connection).validate(ValidateRequest(token: "not-a-token"))
        }
        XCTAssertThrowsError(try call()) { XCTAssertEqual(($0 as? RPCError)?.code, .unavailable, "\($0)") }

        try CertificateFactory.write(newCA.certificatePEM, to: path("client-ca.pem"), mode: 0o644)
        let result = try server.reload()
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("certificate unchanged"), result.stdout)
        XCTAssertEqual(try call().valid, false, "accepted: the call got its answer")
    }

    /// TLS reload under load: `authctl bench` runs while the certificate is swapped several times
    /// and new connections keep arriving; not one call fails, and new connections end up on the
    /// last certificate.
    func testReloadUnderLoadFailsNoCall() throws {
        let server = try start()
        defer { server.authd.stop() }
        let configHome = try TestEnvironment.makeTemporaryDirectory("authctl-config")
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHCTL_") }
        env["XDG_CONFIG_HOME"] = configHome.path
        env["AUTHCTL_SERVER"] = "127.0.0.1:\(server.authd.port)"
        env["AUTHCTL_CA"] = server.authd.caFile
        let authctl = try TestEnvironment.builtExecutable("authctl", override: "AUTHCTL_BINARY")
        let bench = Locked<Result<ProcessResult, any Error>?>(nil)
        let thread = Thread { [env] in
            let result = Result {
                try ProcessRunner.run(authctl, ["bench", "--users", "4", "--connections", "2", "--concurrency", "8",
                                                "--duration", "5", "--warmup", "0", "--json"], environment: env, timeout: 60)
            }
            bench.withLock { $0 = result }
        }
        thread.start()
        // The bench registers its few users in well under a second, then calls; reload meanwhile,
        // with new connections coming and going. Every call counts (no warm-up).
        Thread.sleep(forTimeInterval: 1)
        var reloads = 0
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline && reloads < 6 {
            reloads += 1
            try server.installCertificate("authd server \(reloads)")
            let result = try server.reload()
            XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
            XCTAssertEqual(try server.presented().subject, "/CN=authd server \(reloads)")
            let (connection, client) = try server.client()
            XCTAssertEqual(try client.validate(ValidateRequest(token: "not-a-token")).valid, false)
            connection.close()
        }
        XCTAssertGreaterThanOrEqual(reloads, 2)
        XCTAssertTrue(waitUntil(timeout: .seconds(60)) { bench.withLock { $0 != nil } })
        let result = try XCTUnwrap(bench.withLock { $0 }).get()
        XCTAssertEqual(result.status, 0, result.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let count = try XCTUnwrap(summary["count"] as? Int)
        XCTAssertGreaterThan(count, 0)
        XCTAssertEqual(summary["codes"] as? [String: Int], ["OK": count], "no failed call: \(summary["errors"] ?? [])")
    }

    /// `authd reload` without a pid file to go by is a configuration error; its help tells the exit statuses.
    func testReloadWithoutAPidFileIsAConfigurationError() throws {
        let result = try AuthdProcess.run(["reload"], timeout: 20)
        XCTAssertEqual(result.status, 78, result.stderr)
        XCTAssertTrue(result.stderr.contains("no pid file: give --pid-file (or AUTHD_PID_FILE)"), result.stderr)
        let help = try AuthdProcess.run(["reload", "--help"], timeout: 20)
        XCTAssertEqual(help.status, 0)
        for part in ["--pid-file", "AUTHD_PID_FILE", "--timeout", "69 when no authd is running"] {
            XCTAssertTrue(help.stdout.contains(part), "\(part) in \(help.stdout)")
        }
    }
}
