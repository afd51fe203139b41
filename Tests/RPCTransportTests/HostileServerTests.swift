import Foundation
import RPCCore
import Support
@testable import RPCTransport
import TestSupport
import XCTest

/// The client against a misbehaving server (the Python channel has the same cases in
/// clients/python/tests/test_hostile_server.py): after SETTINGS, with calls pending, the server sends
/// a frame the client cannot parse and keeps the connection open. Every pending call must fail at
/// once with UNAVAILABLE (none may wait for its deadline, and these have none), the client must
/// leave the connection (ERROR first), and its next call must go over a new connection.
final class HostileServerTests: XCTestCase {
    static let pending = 3

    static let cases: [(String, [UInt8])] = [
        ("GOAWAY shorter than its call id", frame(.goAway, payload: [0, 1])),
        ("GOAWAY without status and message", frame(.goAway, payload: [0, 0, 0, 0])),
        ("GOAWAY with a message past its end", frame(.goAway, payload: [0, 0, 0, 0, 14, 0, 9] + Array("bye".utf8))),
        ("GOAWAY with a message not UTF-8", frame(.goAway, payload: [0, 0, 0, 0, 14, 0, 2, 0xFF, 0xFE])),
        ("REPLY with an empty payload", frame(.reply, callID: 1, payload: [])),
        ("REPLY with a truncated status message", frame(.reply, callID: 1, payload: [0, 0, 5] + Array("ab".utf8))),
        ("ERROR with an empty payload", frame(.error, payload: [])),
        ("PING without 8 bytes", frame(.ping, payload: [1, 2])),
        ("SETTINGS twice", frame(.settings, payload: [])),
        ("an unknown frame type", [0, 0, 0, 7, 0x7F, 0, 0, 0, 0, 0] + Array("garbage".utf8)),
        ("a frame over the client's limit", [0xFF, 0xFF, 0xFF, 0xF0, FrameType.reply.rawValue, 0, 0, 0, 0, 1]
            + [UInt8](repeating: 0x78, count: 64)),
    ]

    func testPendingCallsFailPromptlyOnAFrameTheClientCannotParse() throws {
        for (name, hostile) in Self.cases {
            let server = try FakeServer(hostile: hostile)
            defer { server.stop() }
            let client = try TestHarness.client(port: server.port, compression: false, defaultTimeout: nil)
            defer { client.close() }
            let outcomes = Locked<[(code: StatusCode?, seconds: Double)]>([])
            let done = DispatchGroup()
            for i in 0..<Self.pending {
                done.enter()
                Thread {
                    let started = ContinuousClock.now
                    var code: StatusCode?
                    do {
                        _ = try client.unary(EchoTestService.echo, request: Array("call \(i)".utf8), options: CallOptions())
                    } catch let error as RPCError {
                        code = error.code
                    } catch {}
                    let elapsed = ContinuousClock.now - started
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    outcomes.withLock { $0.append((code, seconds)) }
                    done.leave()
                }.start()
            }
            guard done.wait(timeout: .now() + 10) == .success else {
                XCTFail("\(name): pending calls hang")
                continue
            }
            let all = outcomes.withLock { $0 }
            XCTAssertEqual(all.map(\.code), Array(repeating: .unavailable, count: Self.pending), "\(name): \(all)")
            XCTAssertLessThan(all.map(\.seconds).max() ?? 0, 3, "\(name): \(all)")
            XCTAssertTrue(server.clientLeft.wait(timeout: .now() + 5) == .success, "\(name): the client kept the connection")
            let after = try client.unary(EchoTestService.echo, request: Array("after".utf8),
                                         options: CallOptions(timeout: .seconds(10)))
            XCTAssertEqual(after, Array("after".utf8), name)
            XCTAssertEqual(server.connections, 2, name)
        }
    }

    static func frame(_ type: FrameType, callID: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        FrameEncoder.appendHeader(type: type, callID: callID, length: payload.count, to: &out)
        return out + payload
    }
}

/// A fake authrpc/1 server on loopback over TLS. Its first connection sends `hostile` once
/// `HostileServerTests.pending` calls arrived and stays open; later connections answer every CALL
/// with an OK REPLY carrying "after".
private final class FakeServer: @unchecked Sendable {
    // @unchecked Sendable: `listener`, `hostile` and `context` never change; `count` and `stopping`
    // are behind locks; each connection is used by the one thread that serves it.
    let port: Int
    let clientLeft = DispatchSemaphore(value: 0)
    private let listener: Int32
    private let hostile: [UInt8]
    private let context: TLSContext
    private let count = Locked(0)
    private let stopping = Locked(false)
    private let finished = DispatchSemaphore(value: 0)

    var connections: Int { count.withLock { $0 } }

    init(hostile: [UInt8]) throws {
        let certs = try TestCertificates.shared()
        context = try TLSContext(configuration: .server(certificateChainFile: certs.serverCertificateFile,
                                                        privateKeyFile: certs.serverKeyFile), isServer: true)
        self.hostile = hostile
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard rc else {
            close(fd)
            throw TestSetupError("cannot listen on loopback")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { self.acceptLoop() }.start()
    }

    func stop() {
        stopping.withLock { $0 = true }
        shutdown(listener, Int32(SHUT_RDWR))
        _ = finished.wait(timeout: .now() + 5)
        close(listener)
    }

    private func acceptLoop() {
        defer { finished.signal() }
        while !stopping.withLock({ $0 }) {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            guard let connection = try? TLSConnection(context: context, fd: fd) else { continue }
            let first = count.withLock { n -> Bool in
                n += 1
                return n == 1
            }
            let box = UncheckedBox(connection)
            Thread { self.talk(box.value, hostile: first) }.start()
        }
    }

    /// Serves one connection until the client leaves, the server stops, or 15 s pass.
    private func talk(_ connection: TLSConnection, hostile: Bool) {
        let deadline = ContinuousClock.now + .seconds(15)
        var handshaken = false
        while !handshaken && ContinuousClock.now < deadline {
            guard let r = try? connection.handshake() else { return }
            handshaken = r == .done(0)
        }
        var decoder = FrameDecoder(maxFrameSize: 1 << 20, expectsPreface: true)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var calls = 0
        while ContinuousClock.now < deadline && !stopping.withLock({ $0 }) {
            let r = try? buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
            switch r {
            case .done(let n)?:
                decoder.append(Array(buffer[0..<n]))
            case .closed?, nil:
                if hostile { clientLeft.signal() }
                return
            default:
                continue
            }
            while let frame = try? decoder.next() {
                switch frame.type {
                case .settings:
                    send(HostileServerTests.frame(.settings, payload: ConnectionSettings().encode()), on: connection)
                case .call:
                    calls += 1
                    if hostile {
                        if calls == HostileServerTests.pending { send(self.hostile, on: connection) }
                    } else {
                        var reply: [UInt8] = []
                        FrameEncoder.appendReply(callID: frame.callID, status: .ok, message: Array("after".utf8), to: &reply)
                        send(reply, on: connection)
                    }
                case .error:
                    if hostile { clientLeft.signal() }
                    return
                default:
                    continue
                }
            }
        }
    }

    private func send(_ bytes: [UInt8], on connection: TLSConnection) {
        var offset = 0
        while offset < bytes.count {
            let r = try? bytes.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .done(let n)? = r else { return }
            offset += n
        }
    }
}

/// Hands a connection to the thread that serves it (one thread uses it at a time).
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
