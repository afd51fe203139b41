import COpenSSL
import Foundation
import RPCCore
@testable import RPCTransport
import TestSupport
import XCTest

/// Timeouts, connection limits, keepalive, cancellation and signals, over real TLS.
final class ServerLimitsTests: XCTestCase {
    func testPingAnswered() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        var ping: [UInt8] = []
        FrameEncoder.append(Frame(type: .ping, payload: [1, 2, 3, 4, 5, 6, 7, 8]), to: &ping)
        try raw.send(ping)
        let result = raw.readUntilClosed(timeout: .milliseconds(500))
        XCTAssertFalse(result.closed)
        XCTAssertEqual(result.frames.map(\.type), [.settings, .pong])
        XCTAssertEqual(result.frames.last?.payload, [1, 2, 3, 4, 5, 6, 7, 8])
    }

    func testIdleConnectionGetsGoAwayAndClose() throws {
        var limits = ServerLimits()
        limits.idleTimeout = .milliseconds(300)
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        let result = raw.readUntilClosed(timeout: .seconds(5))
        XCTAssertTrue(result.closed)
        XCTAssertEqual(result.frames.map(\.type), [.settings, .goAway])
        XCTAssertEqual(try result.frames.last.map { try GoAway.decode($0.payload) }?.message, "idle timeout")
        // The Swift client reconnects after the server closed its idle connection.
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [2], options: CallOptions()), [2])
        XCTAssertEqual(client.statistics.connectionsOpened, 2)
    }

    func testHandshakeTimeout() throws {
        var limits = ServerLimits()
        limits.handshakeTimeout = .milliseconds(200)
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let fd = try Self.connectTCP(port: server.port)
        defer { close(fd) }
        let start = ContinuousClock.now
        var byte: UInt8 = 0
        XCTAssertEqual(read(fd, &byte, 1), 0, "closed without a word")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(3))
    }

    func testConnectionLimit() throws {
        var limits = ServerLimits()
        limits.maxConnections = 2
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let clients = try (0..<3).map { _ in try TestHarness.client(port: server.port) }
        defer { clients.forEach { $0.close() } }
        XCTAssertEqual(try clients[0].unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
        XCTAssertEqual(try clients[1].unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
        XCTAssertThrowsError(try clients[2].unary(EchoTestService.echo, request: [1], options: CallOptions())) { error in
            XCTAssertEqual((error as? RPCError)?.code, .unavailable)
        }
        XCTAssertEqual(server.statistics.connectionsRefused, 1)
    }

    func testWorkerQueueOverloadIsResourceExhausted() throws {
        var limits = ServerLimits()
        limits.workerQueueCapacity = 1
        let server = try TestHarness.startServer(limits: limits, workerThreads: 1)
        defer { server.shutdown(grace: .seconds(2)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let group = DispatchGroup()
        for expected in [(1, 0), (1, 1)] {
            group.enter()
            Thread {
                _ = try? client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 800), options: CallOptions())
                group.leave()
            }.start()
            for _ in 0..<500 where server.workerPoolLoad != expected { Thread.sleep(forTimeInterval: 0.01) }
        }
        XCTAssertTrue(server.workerPoolLoad == (1, 1), "one call running, one queued")
        XCTAssertThrowsError(try client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 0),
                                              options: CallOptions())) { error in
            XCTAssertEqual(error as? RPCError, RPCError(.resourceExhausted, "server overloaded, try again later"))
        }
        // Inline calls are not affected by a full pool.
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [5], options: CallOptions()), [5])
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
    }

    func testAsyncCallCancelled() async throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(2)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let task = Task {
            try await client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 1000), options: CallOptions())
        }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled call returned")
        } catch {
            XCTAssertEqual((error as? RPCError)?.code, .cancelled)
        }
        let reply = try await client.unary(EchoTestService.echo, request: [1], options: CallOptions())
        XCTAssertEqual(reply, [1])
    }

    func testSignalStartsGracefulShutdown() throws {
        let server = try TestHarness.startServer()
        server.shutdownOnSignals(grace: .seconds(2))
        var tid: pthread_t?
        for _ in 0..<100 where tid == nil {
            tid = server.signalWaiterThread
            if tid == nil { Thread.sleep(forTimeInterval: 0.01) }
        }
        guard let tid else { return XCTFail("no signal thread") }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
        pthread_kill(tid, SIGTERM)
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { server.waitUntilStopped(); stopped.signal() }
        XCTAssertEqual(stopped.wait(timeout: .now() + 10), .success)
        XCTAssertThrowsError(try client.unary(EchoTestService.echo, request: [2], options: CallOptions()))
    }

    static func connectTCP(port: Int) throws -> Int32 {
        try connectLoopback(port: port)
    }
}

/// TLS versions: 1.3 by default, 1.2 as a configurable minimum.
final class TLSVersionTests: XCTestCase {
    func testTLS12RefusedByDefaultAndAcceptedWhenConfigured() throws {
        let strict = try TestHarness.startServer()
        defer { strict.shutdown(grace: .seconds(1)) }
        XCTAssertThrowsError(try RawTLSClient(port: strict.port, maximumVersion: .tls12)) { error in
            XCTAssertTrue("\(error)".contains("protocol version") || "\(error)".contains("alert"), "\(error)")
        }
        let lenient = try TestHarness.startServer(minimumVersion: .tls12)
        defer { lenient.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: lenient.port, maximumVersion: .tls12)
        XCTAssertEqual(SSL_version(raw.connection.ssl), COpenSSL_TLS1_2_VERSION)
        try raw.sendHello()
        XCTAssertEqual(raw.readUntilClosed(timeout: .milliseconds(300)).frames.first?.type, .settings)
    }
}
