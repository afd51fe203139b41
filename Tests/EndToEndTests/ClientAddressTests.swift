import Foundation
import MariaDBStore
import RPCTransport
import TestSupport
import XCTest

/// authd behind a load balancer: `--trusted-proxy` and `--max-connections-per-address`, end to
/// end. A Python client (standard library, `authrpc`) plays the balancer: it connects from
/// 127.0.0.2 and starts each connection with a PROXY protocol v2 header naming an IPv6 client.
final class ClientAddressTests: XCTestCase {
    /// Run with the Python client on PYTHONPATH; each line of the script's output is `name=outcome`.
    private static let script = """
        import ipaddress, socket, struct, sys
        import auth_api as api
        from authrpc import Channel, RpcError
        port, ca = int(sys.argv[1]), sys.argv[2]
        client = {"address": None}
        def header(source):
            src = ipaddress.ip_address(source)
            body = src.packed + ipaddress.ip_address("::1").packed + struct.pack(">HH", 4242, port)
            return b"\\r\\n\\r\\n\\x00\\r\\nQUIT\\n" + bytes([0x21, 0x21]) + struct.pack(">H", len(body)) + body
        plain = socket.create_connection
        def through_balancer(address, timeout=None, *args, **kwargs):
            s = plain(address, timeout, source_address=("127.0.0.2", 0))
            s.sendall(header(client["address"]))
            return s
        socket.create_connection = through_balancer
        channels = []
        def attempt(name, address):
            client["address"] = address
            channel = Channel("127.0.0.1", port, ca_file=ca)
            channels.append(channel)
            try:
                api.AuthClient(channel).login(api.LoginRequest(email="nobody@example.com", password="not the password"))
                print(f"{name}=ok")
            except RpcError as e:
                print(f"{name}={e.code.name}")
        attempt("first", "2001:db8:1:2::a")
        attempt("same64", "2001:db8:1:2::b")
        attempt("other64", "2001:db8:1:3::c")
        for channel in channels:
            channel.close()
        """

    func testTrustedProxyNamesTheClientAndTheCapCountsItsSlash64() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let authd = try AuthdProcess.start(arguments: ["--trusted-proxy", "127.0.0.2/32", "--max-connections-per-address", "1"])
        defer { authd.stop() }
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        let result = try ProcessRunner.run(python, ["-c", Self.script, String(authd.port), authd.caFile],
                                           environment: environment, timeout: 60)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let outcomes = Dictionary(result.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }, uniquingKeysWith: { $1 })
        XCTAssertEqual(outcomes["first"], "UNAUTHENTICATED", "served, as the client the header named: \(result.stdout)")
        XCTAssertEqual(outcomes["same64"], "UNAVAILABLE", "another address of the same /64 is the same client: \(result.stdout)")
        XCTAssertEqual(outcomes["other64"], "UNAUTHENTICATED", "another /64 is another client: \(result.stdout)")
        let log = try String(contentsOfFile: authd.logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("[2001:db8:1:2::a]:4242"), "the handler logged the proxied client")
        XCTAssertTrue(log.contains("2001:db8:1:2::/64"), "the refusal names the /64")
        XCTAssertFalse(log.contains("peer=127.0.0.2"), "the balancer's address is not taken for the client's")
        // What reached the auth core (its throttles and audit) is the client's /64.
        let store = MariaDBStore(configuration: authd.database.configuration)
        let failed = try store.auditEvents(userID: nil, limit: 10).filter { $0.kind == .loginFailed }.map(\.clientAddress)
        XCTAssertEqual(Set(failed), ["2001:db8:1:2::/64", "2001:db8:1:3::/64"])
    }

    func testSettingsAreStatedAndChecked() throws {
        let help = try AuthdCommandTests.serveHelp()
        XCTAssertEqual(help["--max-connections-per-address"]?.defaultText, String(ServerLimits().maxConnectionsPerAddress))
        XCTAssertEqual(help["--max-connections-per-address"]?.variable, "AUTHD_MAX_CONNECTIONS_PER_ADDRESS")
        XCTAssertEqual(help["--trusted-proxy"]?.variable, "AUTHD_TRUSTED_PROXIES")
        let m = try TestMaterial.make()
        defer { try? FileManager.default.removeItem(at: m.directory) }
        for (arguments, environment, text) in [
            (["--trusted-proxy", "10.0.0.1/8"], [:], "--trusted-proxy: \"10.0.0.1/8\" is not an address or CIDR block"),
            (["--trusted-proxy", "lb.example.com"], [:], "not a numeric IPv4 or IPv6 address"),
            ([], ["AUTHD_TRUSTED_PROXIES": "10.0.0.0/8,2001:db8::/129"], "the prefix length must be 0...128"),
            (["--max-connections-per-address", "0"], [:], "--max-connections-per-address must be within 1...1000000, not 0"),
        ] as [([String], [String: String], String)] {
            let result = try AuthdProcess.run(m.serveArguments + arguments + ["--db-socket", "/nonexistent/db.sock", "--db-wait", "0"],
                                              environment: environment, timeout: 20)
            XCTAssertEqual(result.status, 78, result.stderr)
            XCTAssertTrue(result.stderr.contains(text), "expected \(text.debugDescription) in: \(result.stderr)")
        }
    }
}
