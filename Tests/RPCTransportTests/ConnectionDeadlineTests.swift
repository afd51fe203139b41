import Foundation
import RPCCore
@testable import RPCTransport
import TestSupport
import XCTest

/// The deadlines a connection must meet, over real TLS: the handshake deadline runs from accept
/// to the client's first SETTINGS (TLS, preface, SETTINGS), and a frame once begun must be
/// complete within the frame deadline. Short deadlines (1 s) keep the tests fast.
final class ConnectionDeadlineTests: XCTestCase {
    static let limits: ServerLimits = {
        var l = ServerLimits()
        l.handshakeTimeout = .seconds(1)
        l.frameTimeout = .seconds(1)
        return l
    }()

    func testDefaultsAreTenSeconds() {
        XCTAssertEqual(ServerLimits().handshakeTimeout, .seconds(10))
        XCTAssertEqual(ServerLimits().frameTimeout, .seconds(10))
    }

    /// TLS completes, then nothing: closed once the handshake deadline passes.
    func testPrefaceNeverSentIsClosed() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        let start = ContinuousClock.now
        let result = raw.readUntilClosed(timeout: .seconds(4))
        XCTAssertTrue(result.closed, "a TLS connection that never sent the preface is still open")
        XCTAssertEqual(result.frames.map(\.type), [.settings])
        XCTAssertGreaterThan(ContinuousClock.now - start, .milliseconds(700), "closed before the deadline")
    }

    /// The preface but no SETTINGS: the handshake is not over, the same deadline closes it.
    func testPrefaceWithoutSettingsIsClosed() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.send(WireProtocol.preface)
        XCTAssertTrue(raw.readUntilClosed(timeout: .seconds(4)).closed, "a connection without SETTINGS is still open")
    }

    /// A CALL header announcing 100 bytes, then 10 of them, then nothing: closed by the frame deadline.
    func testHalfSentFrameIsClosed() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        var partial: [UInt8] = []
        FrameEncoder.appendHeader(type: .call, flags: [], callID: 1, length: 100, to: &partial)
        try raw.send(partial + [UInt8](repeating: 0, count: 10))
        let start = ContinuousClock.now
        let result = raw.readUntilClosed(timeout: .seconds(4))
        XCTAssertTrue(result.closed, "a half-sent frame keeps its connection open")
        XCTAssertGreaterThan(ContinuousClock.now - start, .milliseconds(700), "closed before the deadline")
    }

    /// A header cut in the middle counts as a frame begun.
    func testHalfSentHeaderIsClosed() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        try raw.send([0, 0, 0, 8, FrameType.ping.rawValue])
        XCTAssertTrue(raw.readUntilClosed(timeout: .seconds(4)).closed, "a half-sent header keeps its connection open")
    }

    /// Frames that each arrive in two pieces, 0.3 s apart, for longer than the frame deadline: every
    /// frame completes in time, so the connection stays open and every PING is answered.
    func testSlowButCompletingFramesKeepTheConnection() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        var ping: [UInt8] = []
        FrameEncoder.append(Frame(type: .ping, payload: [1, 2, 3, 4, 5, 6, 7, 8]), to: &ping)
        let rounds = 7
        for _ in 0..<rounds {
            try raw.send(Array(ping[..<7]))
            Thread.sleep(forTimeInterval: 0.3)
            try raw.send(Array(ping[7...]))
            Thread.sleep(forTimeInterval: 0.05)
        }
        let result = raw.readUntilClosed(timeout: .milliseconds(500))
        XCTAssertFalse(result.closed, "a connection whose frames all completed in time was closed")
        XCTAssertEqual(result.frames.filter { $0.type == .pong }.count, rounds)
    }
}
