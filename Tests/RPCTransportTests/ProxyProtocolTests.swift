import Foundation
import RPCCore
import RPCDispatch
@testable import RPCTransport
import Support
import TestSupport
import XCTest

/// PROXY protocol v2 over real sockets: 127.0.0.2 plays the trusted load balancer, 127.0.0.1 an
/// untrusted client.
final class ProxyProtocolTests: XCTestCase {
    override func setUp() {
        OSThread.blockSignals([SIGPIPE])  // writes to a connection the server closed fail with EPIPE instead
    }

    private static func startServer(trusting proxies: String = "127.0.0.2/32", limits: ServerLimits = ServerLimits()) throws -> RPCServer {
        let certs = try TestCertificates.shared()
        let tls = TLSConfiguration.server(certificateChainFile: certs.serverCertificateFile, privateKeyFile: certs.serverKeyFile)
        let server = try RPCServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0, tls: tls, limits: limits,
                                                                      trustedProxies: try IPNetwork.parseList(proxies)),
                                   services: [EchoTestService(), PeerTestService()], logger: TestHarness.logger)
        try server.start()
        return server
    }

    /// A connection from the trusted proxy that sends `header`, then speaks TLS.
    private func proxied(_ server: RPCServer, _ header: [UInt8]) throws -> SocketTLSClient {
        let fd = try Loopback.connect(port: server.port, from: "127.0.0.2")
        try Loopback.send(fd, header)
        return try SocketTLSClient(fd: fd)
    }

    func testTrustedProxyHeaderSetsThePeerTheHandlerSees() throws {
        let server = try Self.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let v4 = try proxied(server, ProxyV2.proxy(source: "203.0.113.7", port: 4242, destinationPort: server.port))
        XCTAssertTrue(try v4.call(PeerTestService.peer) == ("203.0.113.7:4242", "203.0.113.7"))
        let v6 = try proxied(server, ProxyV2.proxy(source: "2001:db8:1:2:3:4:5:6", port: 5, destinationPort: server.port))
        XCTAssertTrue(try v6.call(PeerTestService.peer) == ("[2001:db8:1:2:3:4:5:6]:5", "2001:db8:1:2::/64"))
        // TLVs after the addresses (within the size bound) are skipped.
        let tlv = try proxied(server, ProxyV2.proxy(source: "198.51.100.9", port: 1, destinationPort: server.port,
                                                    tlvs: [0x04, 0x00, 0x03, 0x61, 0x62, 0x63]))
        XCTAssertEqual(try tlv.call(PeerTestService.peer).host, "198.51.100.9")
        // LOCAL (the balancer's own health check): the proxy's address stays.
        let local = try proxied(server, ProxyV2.local)
        let seen = try local.call(PeerTestService.peer)
        XCTAssertTrue(seen.peer.hasPrefix("127.0.0.2:"), seen.peer)
        XCTAssertEqual(seen.host, "127.0.0.2")
        // A header sent in pieces is put together.
        let fd = try Loopback.connect(port: server.port, from: "127.0.0.2")
        let header = ProxyV2.proxy(source: "192.0.2.44", port: 80, destinationPort: server.port)
        for chunk in [header[0..<5], header[5..<15], header[15...]] {
            try Loopback.send(fd, Array(chunk))
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertEqual(try SocketTLSClient(fd: fd).call(PeerTestService.peer).host, "192.0.2.44")
    }

    /// Anyone else sending a PROXY header is refused, never believed; without a header an
    /// untrusted client is served as itself.
    func testProxyHeaderFromAnUntrustedPeerCloses() throws {
        let server = try Self.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let fd = try Loopback.connect(port: server.port, from: "127.0.0.1")
        try Loopback.send(fd, ProxyV2.proxy(source: "203.0.113.7", port: 4242, destinationPort: server.port))
        XCTAssertThrowsError(try SocketTLSClient(fd: fd).call(PeerTestService.peer))
        let direct = try SocketTLSClient(fd: try Loopback.connect(port: server.port, from: "127.0.0.1"))
        XCTAssertEqual(try direct.call(PeerTestService.peer).host, "127.0.0.1")
    }

    /// From a trusted proxy the header is required, well formed and bounded.
    func testMissingMalformedOrOversizedHeadersClose() throws {
        var limits = ServerLimits()
        limits.handshakeTimeout = .milliseconds(500)
        let server = try Self.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let port = server.port
        let good = ProxyV2.proxy(source: "203.0.113.7", port: 1, destinationPort: port)
        var badVersion = good; badVersion[12] = 0x11
        var badCommand = good; badCommand[12] = 0x22
        var badFamily = good; badFamily[13] = 0x41
        var datagram = good; datagram[13] = 0x12
        var badSignature = good; badSignature[3] = 0x00
        let cases: [(String, [UInt8])] = [
            ("TLS without a header", []),
            ("version 1 (text)", Array("PROXY TCP4 203.0.113.7 127.0.0.1 1 \(port)\r\n".utf8)),
            ("bad signature", badSignature),
            ("bad version", badVersion),
            ("bad command", badCommand),
            ("bad family", badFamily),
            ("UDP", datagram),
            ("address block shorter than the family's", ProxyV2.header(command: 0x21, family: 0x11, body: [1, 2, 3, 4])),
            ("IPv6 family with an IPv4 block", ProxyV2.header(command: 0x21, family: 0x21, body: Array(good[16...]))),
            ("longer than 216 bytes", ProxyV2.header(command: 0x21, family: 0x11, body: Array(good[16...]) + [UInt8](repeating: 0, count: 205))),
        ]
        for (what, header) in cases {
            let fd = try Loopback.connect(port: port, from: "127.0.0.2")
            if !header.isEmpty { try Loopback.send(fd, header) }
            XCTAssertThrowsError(try SocketTLSClient(fd: fd).call(PeerTestService.peer), what)
        }
        // Nothing at all: closed by the handshake deadline.
        let silent = try Loopback.connect(port: port, from: "127.0.0.2")
        defer { close(silent) }
        XCTAssertTrue(waitUntil(timeout: .seconds(5)) { HostileClientTests.closedWithin(fd: silent, .milliseconds(50)) })
        XCTAssertGreaterThanOrEqual(server.statistics.protocolErrors, cases.count - 1)
        // The proxy is still served after all that.
        XCTAssertEqual(try proxied(server, good).call(PeerTestService.peer).host, "203.0.113.7")
    }

    /// Behind a proxy the per-address cap counts the clients the headers name, not the proxy.
    func testPerAddressCapCountsTheProxiedAddress() throws {
        var limits = ServerLimits()
        limits.maxConnectionsPerAddress = 2
        let server = try Self.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let header = ProxyV2.proxy(source: "198.51.100.1", port: 1, destinationPort: server.port)
        let first = try proxied(server, header), second = try proxied(server, header)
        XCTAssertEqual(try first.call(PeerTestService.peer).host, "198.51.100.1")
        XCTAssertEqual(try second.call(PeerTestService.peer).host, "198.51.100.1")
        XCTAssertThrowsError(try proxied(server, header).call(PeerTestService.peer), "a third from the same client")
        XCTAssertEqual(server.statistics.connectionsRefusedPerAddress, 1)
        let other = try proxied(server, ProxyV2.proxy(source: "198.51.100.2", port: 1, destinationPort: server.port))
        XCTAssertEqual(try other.call(PeerTestService.peer).host, "198.51.100.2")
    }
}

/// PROXY protocol v2 headers (haproxy's proxy-protocol.txt, section 2.2), built by hand.
enum ProxyV2 {
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// The signature, version/command, family/transport, big-endian length, then `body`.
    static func header(command: UInt8, family: UInt8, body: [UInt8]) -> [UInt8] {
        signature + [command, family, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    /// A PROXY command over TCP from `source`:`port` to the loopback listener.
    static func proxy(source: String, port: Int, destinationPort: Int, tlvs: [UInt8] = []) -> [UInt8] {
        let v6 = source.contains(":")
        var body = bytes(source, v6: v6) + bytes(v6 ? "::1" : "127.0.0.1", v6: v6)
        body += [UInt8(port >> 8), UInt8(port & 0xFF), UInt8(destinationPort >> 8 & 0xFF), UInt8(destinationPort & 0xFF)]
        return header(command: 0x21, family: v6 ? 0x21 : 0x11, body: body + tlvs)
    }

    /// A LOCAL command (no addresses).
    static let local = header(command: 0x20, family: 0x00, body: [])

    private static func bytes(_ text: String, v6: Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: v6 ? 16 : 4)
        _ = inet_pton(v6 ? AF_INET6 : AF_INET, text, &out)
        return out
    }
}
