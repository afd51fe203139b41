import Foundation
import RPCCore
import RPCDispatch
@testable import RPCTransport
import TestSupport
import XCTest

/// Who gets a connection and which address its calls carry: the per-address cap, PROXY protocol
/// v2 from trusted load balancers, IPv6 clients keyed by their /64. Over real TLS on loopback
/// (127.0.0.0/8 is all local, so 127.0.0.2 is "another client").
final class ConnectionAdmissionTests: XCTestCase {
    override func setUp() {
        OSThread.blockSignals([SIGPIPE])  // writes to a connection the server closed fail with EPIPE instead
    }

    // MARK: Per-address cap

    /// One address opens more connections than the default cap: exactly the extra one is closed at
    /// accept, while another address still gets in and is served.
    func testConnectionsPastThePerAddressCapAreRefusedAnotherAddressGetsIn() throws {
        let cap = ServerLimits().maxConnectionsPerAddress
        XCTAssertEqual(cap, 64, "the default")
        let server = try TestHarness.startServer(extraServices: [PeerTestService()])
        defer { server.shutdown(grace: .seconds(1)) }
        let fds = try (0...cap).map { _ in try Loopback.connect(port: server.port, from: "127.0.0.1") }
        defer { fds.forEach { close($0) } }
        var closed = Set<Int32>()
        waitUntil(timeout: .seconds(2)) {
            closed.formUnion(fds.filter { !closed.contains($0) && HostileClientTests.closedWithin(fd: $0, .milliseconds(1)) })
            return false
        }
        XCTAssertEqual(closed.count, 1, "\(cap + 1) connections from one address: only the one past the cap is closed")
        XCTAssertEqual(server.statistics.connectionsRefusedPerAddress, 1)

        let other = try SocketTLSClient(fd: try Loopback.connect(port: server.port, from: "127.0.0.2"))
        XCTAssertEqual(try other.call(PeerTestService.peer).host, "127.0.0.2", "another address is not held back")

        // A slot freed by a close is taken again.
        let open = fds.first { !closed.contains($0) }!
        close(open)
        let again = try XCTUnwrap(waitUntilValue(timeout: .seconds(5)) {
            try? SocketTLSClient(fd: try Loopback.connect(port: server.port, from: "127.0.0.1"))
        })
        XCTAssertEqual(try again.call(PeerTestService.peer).host, "127.0.0.1")
        for fd in fds where fd != open && !closed.contains(fd) { XCTAssertFalse(HostileClientTests.closedWithin(fd: fd, .zero)) }
    }

    // MARK: IPv6 keying

    /// Per-client policies see an IPv6 client as its /64 (one subscriber's allocation), an IPv4
    /// client (also written IPv4-mapped) as its address.
    func testPeerHostKeysIPv6ByItsSlash64() {
        func host(_ peer: String) -> String { ServerContext(peer: peer).peerHost }
        XCTAssertEqual(host("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443"), "2001:db8:1:2::/64")
        XCTAssertEqual(host("[2001:db8:1:2::1]:5"), host("[2001:db8:1:2:ffff::7]:6"), "rotating within a /64 is one client")
        XCTAssertNotEqual(host("[2001:db8:1:2::1]:5"), host("[2001:db8:1:3::1]:5"))
        XCTAssertEqual(host("[::1]:7443"), "::/64")
        XCTAssertEqual(host("[::ffff:192.0.2.1]:80"), "192.0.2.1")
        XCTAssertEqual(host("192.0.2.1:80"), "192.0.2.1")
        XCTAssertEqual(host("in-process"), "in-process")
    }
}

/// A service that answers with what the handler was told about its peer.
struct PeerTestService: RPCServiceProvider {
    static let peer = MethodDescriptor(service: "rpctest.v1.Peer", method: "Peer")

    var methods: [ServerMethod] {
        [ServerMethod(descriptor: Self.peer, kind: .inline) { _, context in
            Array("\(context.peer)\n\(context.peerHost)".utf8)
        }]
    }
}

/// TCP connections to the test server from a chosen loopback source address.
enum Loopback {
    /// A blocking socket connected to 127.0.0.1:`port` from `source` (any 127.x.y.z), with 100 ms read timeouts.
    static func connect(port: Int, from source: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket failed") }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = UInt16(port).bigEndian
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, size) } }
        guard bound == 0, connected == 0 else { close(fd); throw TestSetupError("connect from \(source) failed") }
        var readTimeout = timeval(tv_sec: 0, tv_usec: 100_000)
        var writeTimeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &readTimeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &writeTimeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Writes all of `bytes` to a blocking socket.
    static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestSetupError("write failed") }
            offset += n
        }
    }
}

/// A TLS client on a socket already connected (and, for PROXY tests, already sent a header).
final class SocketTLSClient {
    let connection: TLSConnection
    private var nextCallID: UInt32 = 1
    private var decoder = FrameDecoder(maxFrameSize: 1 << 24, expectsPreface: false)

    /// Takes `fd` (closed with the connection) and completes the TLS handshake within 5 s, then
    /// sends the preface and SETTINGS; throws when the server closes instead.
    init(fd: Int32) throws {
        let certs = try TestCertificates.shared()
        let context = try TLSContext(configuration: .client(trustRootsFile: certs.caFile), isServer: false)
        connection = try TLSConnection(context: context, fd: fd, serverName: "127.0.0.1")
        for _ in 0..<50 where try connection.handshake() != .done(0) {}
        guard try connection.handshake() == .done(0) else { throw TestSetupError("handshake did not complete") }
        var hello = WireProtocol.preface
        FrameEncoder.append(Frame(type: .settings, payload: ConnectionSettings(compression: 0).encode()), to: &hello)
        try send(hello)
    }

    private func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let r = try bytes.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .done(let n) = r else { throw TestSetupError("write: \(r)") }
            offset += n
        }
    }

    /// Calls a `PeerTestService` method: the peer and the host its handler saw.
    func call(_ method: MethodDescriptor) throws -> (peer: String, host: String) {
        let id = nextCallID
        nextCallID += 1
        var frame: [UInt8] = []
        FrameEncoder.appendCall(callID: id, head: CallHead(method: method.fullName), message: [], flags: [], to: &frame)
        try send(frame)
        var buffer = [UInt8](repeating: 0, count: 16384)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            while let frame = try decoder.next() {
                guard frame.type == .reply, frame.callID == id else { continue }
                let (head, offset) = try ReplyHead.decode(frame.payload)
                guard head.status == .ok else { throw RPCError(head.status, head.message) }
                let lines = String(decoding: frame.payload[offset...], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                return (String(lines.first ?? ""), String(lines.last ?? ""))
            }
            switch try buffer.withUnsafeMutableBytes({ try connection.read(into: $0) }) {
            case .done(let n): decoder.append(Array(buffer[0..<n]))
            case .closed: throw TestSetupError("closed by the server")
            default: continue
            }
        }
        throw TestSetupError("no reply within 5 s")
    }
}

/// Polls `body` until it returns a value or `timeout` passes.
func waitUntilValue<T>(timeout: Duration, _ body: () -> T?) -> T? {
    let deadline = ContinuousClock.now + timeout
    repeat {
        if let value = body() { return value }
        Thread.sleep(forTimeInterval: 0.05)
    } while ContinuousClock.now < deadline
    return nil
}
