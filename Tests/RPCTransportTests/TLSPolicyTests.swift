import Foundation
import RPCCore
import RPCTransport
import TestSupport
import XCTest

/// The server's TLS profile, probed by `openssl s_client` on loopback: with TLS 1.2 allowed, only
/// ECDHE with AEAD suites; key exchange only over X25519, P-256 and P-384, in 1.3 and 1.2.
final class TLSPolicyTests: XCTestCase {
    private static let openssl: URL? = ["/usr/bin/openssl", "/usr/local/bin/openssl"].lazy
        .map(URL.init(fileURLWithPath:)).first { FileManager.default.isExecutableFile(atPath: $0.path) }

    /// Whether a handshake with `arguments` (s_client flags) completes against `port`.
    private func handshake(port: Int, _ arguments: [String]) throws -> (established: Bool, output: String) {
        guard let openssl = Self.openssl else { throw XCTSkip("openssl not installed (apt-get install openssl)") }
        let certs = try TestCertificates.shared()
        let r = try ProcessRunner.run(openssl, ["s_client", "-connect", "127.0.0.1:\(port)", "-brief", "-alpn", WireProtocol.alpn,
                                                "-CAfile", certs.caFile, "-verify_return_error"] + arguments,
                                      input: Data(), timeout: 20)
        let output = r.stdout + r.stderr
        return (r.status == 0 && output.contains("CONNECTION ESTABLISHED"), output)
    }

    func testTLS12RefusesCBCSuites() throws {
        let server = try TestHarness.startServer(minimumVersion: .tls12)
        defer { server.shutdown(grace: .seconds(1)) }
        // The test certificate is ECDSA: the CBC-SHA suites that could otherwise be agreed on.
        for suite in ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256"] {
            let probe = try handshake(port: server.port, ["-tls1_2", "-cipher", suite])
            XCTAssertFalse(probe.established, "\(suite) accepted: \(probe.output)")
        }
        for suite in ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"] {
            let probe = try handshake(port: server.port, ["-tls1_2", "-cipher", suite])
            XCTAssertTrue(probe.established, "\(suite) refused: \(probe.output)")
        }
    }

    /// The key-exchange group the handshake agreed on, as s_client names it ("X25519", "prime256v1").
    private func keyExchange(_ output: String) -> String? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("Temp Key: ") }) else { return nil }
        let fields = line.split(separator: ":", maxSplits: 1).last?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        return fields.count == 3 ? fields[1] : fields.first  // "ECDH, prime256v1, 256 bits" or "X25519, 253 bits"
    }

    func testOnlyX25519AndNISTP256AndP384Groups() throws {
        let server = try TestHarness.startServer(minimumVersion: .tls12)
        defer { server.shutdown(grace: .seconds(1)) }
        let names = ["X25519": "X25519", "P-256": "prime256v1", "P-384": "secp384r1", "X448": "X448", "P-521": "secp521r1"]
        // TLS 1.3: a client offering only a group outside the profile gets no handshake.
        for group in ["X448", "P-521", "ffdhe2048"] {
            let probe = try handshake(port: server.port, ["-tls1_3", "-groups", group])
            XCTAssertFalse(probe.established, "TLS 1.3 over \(group) accepted: \(probe.output)")
        }
        for group in ["X25519", "P-256", "P-384"] {
            let probe = try handshake(port: server.port, ["-tls1_3", "-groups", group])
            XCTAssertTrue(probe.established, "TLS 1.3 over \(group) refused: \(probe.output)")
            XCTAssertEqual(keyExchange(probe.output), names[group], probe.output)
        }
        // TLS 1.2: the ECDSA P-256 certificate needs P-256 among the client's groups, so the client
        // prefers another group and also offers P-256: the server never agrees to X448 or P-521.
        for group in ["X448", "P-521", "X25519", "P-384"] {
            let probe = try handshake(port: server.port, ["-tls1_2", "-groups", "\(group):P-256"])
            XCTAssertTrue(probe.established, probe.output)
            let expected = ["X448", "P-521"].contains(group) ? "prime256v1" : names[group]
            XCTAssertEqual(keyExchange(probe.output), expected, "TLS 1.2, client preferring \(group): \(probe.output)")
        }
    }

    /// A normal client (ours, and s_client with its defaults) still connects, in 1.3 and in 1.2.
    func testNormalClientsStillConnect() throws {
        let server = try TestHarness.startServer(minimumVersion: .tls12)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [7], options: CallOptions()), [7])
        for version in [[], ["-tls1_2"]] {
            let probe = try handshake(port: server.port, version)
            XCTAssertTrue(probe.established, probe.output)
        }
    }
}
