import AuthAPI
import AuthClient
import DevCertificates
import Foundation
import RPCCore
import RPCTransport
import TestSupport
import XCTest

/// Service identities end to end on MariaDB, with the real `authd`, its operator commands and
/// `authctl`: a service account created by `authd admin service create`, a token by client
/// secret and one by a bound client certificate (mTLS, URI SAN), Validate with and without a
/// required scope, `--validate-callers authenticated` refusing an anonymous caller and serving a
/// service, a rotated secret (the old one works during the grace, not after), a disabled account
/// (its tokens refused within the revocation bound), and an audit trail without secrets.
final class ServiceIdentityTests: XCTestCase {
    func testServiceAccountsEndToEnd() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("service-identities")
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let kek = path("kek")
        try CertificateFactory.write(Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() + "\n", to: kek, mode: 0o600)
        let clientCA = try CertificateFactory.makeAuthority(commonName: "service client CA", days: 2)
        try CertificateFactory.write(clientCA.certificatePEM, to: path("client-ca.pem"), mode: 0o644)
        let mesh = try CertificateFactory.makeLeaf(commonName: "mesh-1", subjectAltNames: ["URI:spiffe://example.org/mesh"],
                                                   authority: clientCA, serverAuth: false, clientAuth: true, days: 2)
        try CertificateFactory.write(mesh.certificatePEM, to: path("mesh.pem"), mode: 0o644)
        try CertificateFactory.write(mesh.privateKeyPEM, to: path("mesh.key"), mode: 0o600)

        let authd = try AuthdProcess.start(arguments: ["--key-encryption-key-file", kek, "--tls-client-ca", path("client-ca.pem"),
                                                       "--revocation-poll-ms", "200", "--validate-callers", "authenticated"])
        defer { authd.stop() }
        var secrets: Set<String> = []

        // An operator creates two accounts; one is bound to the mesh certificate by its SPIFFE ID.
        let created = try authd.runSubcommand(["admin", "service", "create", "billing", "--scopes", "orders:read,orders:write",
                                               "--json", "--key-encryption-key-file", kek])
        XCTAssertEqual(created.status, 0, created.stderr)
        let credentials = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])
        XCTAssertEqual(credentials["client_id"], "billing")
        let secret = try XCTUnwrap(credentials["client_secret"])
        secrets.insert(secret)
        XCTAssertEqual(try authd.runSubcommand(["admin", "service", "create", "mesh", "--scopes", "inventory:read",
                                                "--key-encryption-key-file", kek]).status, 0)
        let bind = try authd.runSubcommand(["admin", "service", "bind-cert", "mesh", "--uri-san", "spiffe://example.org/mesh"])
        XCTAssertEqual(bind.status, 0, bind.stderr)
        let noKey = try authd.runSubcommand(["admin", "service", "create", "no-key"])
        XCTAssertEqual(noKey.status, 78, "a secret cannot be hashed without the key-encryption key: \(noKey.stderr)")
        XCTAssertTrue(noKey.stderr.contains("key-encryption key"), noKey.stderr)
        let listed = try authd.runSubcommand(["admin", "service", "list"])
        XCTAssertTrue(listed.stdout.contains("billing\tenabled\torders:read orders:write"), listed.stdout)
        XCTAssertTrue(listed.stdout.contains("spiffe://example.org/mesh"), listed.stdout)

        // authctl: a token by secret (stdin), kept apart and not printed in text mode.
        let configHome = try TestEnvironment.makeTemporaryDirectory("authctl-config")
        let authctl = try TestEnvironment.builtExecutable("authctl", override: "AUTHCTL_BINARY")
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHCTL_") }
        env["XDG_CONFIG_HOME"] = configHome.path
        env["AUTHCTL_SERVER"] = "\(authd.host):\(authd.port)"
        env["AUTHCTL_CA"] = authd.caFile
        func run(_ arguments: [String], input: String? = nil, certificate: Bool = true) throws -> ProcessResult {
            try ProcessRunner.run(authctl, arguments + (certificate ? ["--cert", path("mesh.pem"), "--key", path("mesh.key")] : []),
                                  input: input.map { Data($0.utf8) }, environment: env, timeout: 30)
        }
        let text = try run(["service-token", "--client-id", "billing", "--client-secret-stdin", "--scope", "orders:read"], input: secret + "\n",
                           certificate: false)
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("orders:read"), text.stdout)
        let kept = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: configHome.appendingPathComponent("authctl/service-credentials")))
                                 as? [String: Any])
        let billingToken = try XCTUnwrap(kept["token"] as? String)
        secrets.insert(billingToken)
        XCTAssertFalse(text.stdout.contains(billingToken), "the token is never printed in text mode")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: configHome.appendingPathComponent("authctl/service-credentials").path)[.posixPermissions] as? Int, 0o600)
        let json = try run(["service-token", "--client-id", "billing", "--client-secret-stdin", "--json"], input: secret + "\n", certificate: false)
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["scopes"] as? [String], ["orders:read", "orders:write"])
        XCTAssertNotNil(object["expires_at"] as? Int)
        secrets.insert(try XCTUnwrap(object["token"] as? String))

        // A token by the bound certificate alone (the binding reaches the server within a poll).
        var meshToken: [String: Any] = [:]
        XCTAssertTrue(waitUntil(timeout: .seconds(10), poll: .milliseconds(100)) {
            guard let r = try? run(["service-token", "--json"]), r.status == 0 else { return false }
            meshToken = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
            return true
        }, "no token for the bound certificate")
        XCTAssertEqual(meshToken["scopes"] as? [String], ["inventory:read"])
        secrets.insert(try XCTUnwrap(meshToken["token"] as? String))

        // Validate: authctl over the bound certificate (an authenticated caller), with required scopes.
        try CertificateFactory.write(billingToken, to: path("billing.token"), mode: 0o600)
        let valid = try run(["validate", "--token-file", path("billing.token"), "--require-scope", "orders:read", "--json"])
        XCTAssertEqual(valid.status, 0, valid.stdout + valid.stderr)
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(valid.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(answer["kind"] as? String, "service")
        XCTAssertEqual(answer["subject"] as? String, "svc:billing")
        XCTAssertEqual(answer["scopes"] as? [String], ["orders:read"])
        let forbidden = try run(["validate", "--token-file", path("billing.token"), "--require-scope", "orders:write", "--json"])
        XCTAssertEqual(forbidden.status, 1, forbidden.stdout)
        XCTAssertTrue(forbidden.stdout.contains("Insufficient scope."), forbidden.stdout)
        let anonymous = try run(["validate", "--token-file", path("billing.token")], certificate: false)
        XCTAssertNotEqual(anonymous.status, 0)
        XCTAssertTrue(anonymous.stderr.contains("Validate requires a service token or a bound client certificate."), anonymous.stderr)

        // The Swift client: anonymous refused, a service token in `authorization` served.
        let connection = try authd.connect()
        defer { connection.close() }
        let client = Auth.Client(transport: connection)
        XCTAssertRPCError(try client.validate(ValidateRequest(token: billingToken)), .unauthenticated,
                          "Validate requires a service token or a bound client certificate.")
        let user = try client.register(RegisterRequest(email: uniqueEmail("svc-e2e"), password: "pw-\(UUID().uuidString)"))
        secrets.insert(user.token)
        XCTAssertRPCError(try client.validate(ValidateRequest(token: billingToken), options: .bearer(user.token)), .unauthenticated)
        let served = try client.validate(ValidateRequest(token: user.token), options: .bearer(billingToken))
        XCTAssertTrue(served.valid)
        XCTAssertEqual(served.kind, .user)

        // Rotation: the old secret works during the grace (3 s here), then not.
        let rotated = try authd.runSubcommand(["admin", "service", "rotate-secret", "billing", "--json", "--key-encryption-key-file", kek,
                                               "--service-secret-grace", "3"])
        XCTAssertEqual(rotated.status, 0, rotated.stderr)
        let newSecret = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(rotated.stdout.utf8)) as? [String: String])?["client_secret"])
        secrets.insert(newSecret)
        XCTAssertNotEqual(newSecret, secret)
        XCTAssertNoThrow(try client.serviceToken(ServiceTokenRequest(clientId: "billing", clientSecret: secret)), "the old secret, in the grace")
        Thread.sleep(forTimeInterval: 3.5)
        XCTAssertRPCError(try client.serviceToken(ServiceTokenRequest(clientId: "billing", clientSecret: secret)), .unauthenticated,
                          "Invalid client credentials.")
        let fresh = try client.serviceToken(ServiceTokenRequest(clientId: "billing", clientSecret: newSecret))
        secrets.insert(fresh.token)

        // Disabling: its tokens are refused within the revocation bound, new ones are not issued.
        let mine = try XCTUnwrap(meshToken["token"] as? String)
        XCTAssertEqual(try authd.runSubcommand(["admin", "service", "disable", "billing"]).status, 0)
        let disabled = Date()
        var refusal: TokenRefusal?
        _ = waitUntil(timeout: .seconds(10), poll: .milliseconds(50)) {
            refusal = try? client.validate(ValidateRequest(token: fresh.token), options: .bearer(mine)).refusal
            return refusal == .disabled
        }
        XCTAssertEqual(refusal, .disabled)
        XCTAssertLessThan(Date().timeIntervalSince(disabled), 0.2 + 1.8, "within the revocation bound")
        XCTAssertRPCError(try client.serviceToken(ServiceTokenRequest(clientId: "billing", clientSecret: newSecret)), .permissionDenied)

        // The audit trail: creation, rotation, grants and refusals; no secret, no token.
        let audit = try authd.runSubcommand(["admin", "audit", "--limit", "500"])
        XCTAssertEqual(audit.status, 0, audit.stderr)
        for kind in ["service_created", "service_cert_bound", "service_secret_rotated", "service_token", "service_token_refused", "service_disabled"] {
            XCTAssertTrue(audit.stdout.contains("\t\(kind)\t"), "no \(kind) in the audit trail")
        }
        assertNoSecrets(in: audit.stdout, secrets)
        assertNoSecrets(in: authd.log, secrets)
    }

    /// clients/python/tests/test_services.py: ServiceToken and Validate's new fields through the
    /// Python client (default `--validate-callers any`), and a token for a certificate bound by its
    /// URI SAN over standard gRPC (grpcio).
    func testPythonServiceTokenAndValidate() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let dir = try TestEnvironment.makeTemporaryDirectory("service-identities-py")
        let kek = dir.appendingPathComponent("kek").path
        try CertificateFactory.write(Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() + "\n", to: kek, mode: 0o600)
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let clientCA = try CertificateFactory.makeAuthority(commonName: "python service client CA", days: 2)
        try CertificateFactory.write(clientCA.certificatePEM, to: path("client-ca.pem"), mode: 0o644)
        let mesh = try CertificateFactory.makeLeaf(commonName: "py-mesh-1", subjectAltNames: ["URI:spiffe://example.org/py-mesh"],
                                                   authority: clientCA, serverAuth: false, clientAuth: true, days: 2)
        try CertificateFactory.write(mesh.certificatePEM, to: path("mesh.pem"), mode: 0o644)
        try CertificateFactory.write(mesh.privateKeyPEM, to: path("mesh.key"), mode: 0o600)
        let authd = try AuthdProcess.start(arguments: ["--key-encryption-key-file", kek, "--tls-client-ca", path("client-ca.pem")])
        defer { authd.stop() }
        let created = try authd.runSubcommand(["admin", "service", "create", "py-orders", "--scopes", "orders:read,orders:write",
                                               "--json", "--key-encryption-key-file", kek])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertEqual(try authd.runSubcommand(["admin", "service", "create", "py-mesh", "--scopes", "inventory:read",
                                                "--key-encryption-key-file", kek]).status, 0)
        let bind = try authd.runSubcommand(["admin", "service", "bind-cert", "py-mesh", "--uri-san", "spiffe://example.org/py-mesh"])
        XCTAssertEqual(bind.status, 0, bind.stderr)
        let secret = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])?["client_secret"])
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        environment["AUTHD_SERVICES_ADDRESS"] = "\(authd.host):\(authd.port)"
        environment["AUTHD_SERVICES_CA"] = authd.caFile
        environment["AUTHD_SERVICES_CLIENT_ID"] = "py-orders"
        environment["AUTHD_SERVICES_CLIENT_SECRET"] = secret
        environment["AUTHD_SERVICES_MESH_CERT"] = path("mesh.pem")
        environment["AUTHD_SERVICES_MESH_KEY"] = path("mesh.key")
        environment["AUTHD_SERVICES_MESH_ID"] = "py-mesh"
        let testFile = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/test_services.py").path
        let result = try ProcessRunner.run(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", testFile],
                                           environment: environment, timeout: 120)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse(result.stdout.contains("skipped"), result.stdout)
        XCTAssertTrue(result.stdout.contains("3 passed"), result.stdout)
        assertNoSecrets(in: authd.log, [secret])
    }
}
