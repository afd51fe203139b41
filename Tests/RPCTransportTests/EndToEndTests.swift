import Foundation
import RPCCore
import Support
@testable import RPCTransport
import Synchronization
import TestSupport
import XCTest

/// The server and the Swift client over real TLS on loopback.
final class EndToEndTests: XCTestCase {
    func testEchoRoundTrip() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let reply = try client.unary(EchoTestService.echo, request: Array("hello".utf8), options: CallOptions())
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "hello")
    }

    func testMetadataAndStatusTravel() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let reply = try client.unary(EchoTestService.metadata, request: [], options: .bearer("tok123"))
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "authorization=Bearer tok123\nsubject=")
        XCTAssertThrowsError(try client.unary(EchoTestService.fail, request: [StatusCode.alreadyExists.rawValue] + Array("taken é".utf8),
                                              options: CallOptions())) { error in
            XCTAssertEqual(error as? RPCError, RPCError(.alreadyExists, "taken é"))
        }
        let unknown = MethodDescriptor(service: "rpctest.v1.Echo", method: "Nope")
        XCTAssertThrowsError(try client.unary(unknown, request: [], options: CallOptions())) { error in
            XCTAssertEqual((error as? RPCError)?.code, .unimplemented)
        }
    }

    /// Many threads × many calls on one connection; slow and fast calls mixed so replies come back
    /// out of order, and each caller gets its own reply.
    func testManyThreadsManyCallsOneConnection() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let threads = 8, callsPerThread = 200
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<callsPerThread {
                let id = UInt32(t * 100_000 + i)
                do {
                    if i % 20 == 0 {
                        let request = EchoTestService.slowRequest(millis: (i / 20 % 3) * 10, id: id)
                        let reply = try client.unary(EchoTestService.slow, request: request, options: CallOptions())
                        if reply != request { failures.add(1, ordering: .relaxed) }
                    } else {
                        let request = Array("\(id)".utf8)
                        let reply = try client.unary(EchoTestService.echo, request: request, options: CallOptions())
                        if reply != request { failures.add(1, ordering: .relaxed) }
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
        XCTAssertEqual(client.statistics.connectionsOpened, 1)
    }

    /// A slow reply overtaken by fast ones on the same connection.
    func testRepliesInCompletionOrder() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let order = Locked<[String]>([])
        let group = DispatchGroup()
        let started = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        DispatchQueue.global().async(group: group) {
            _ = try? client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 300), options: CallOptions())
            order.withLock { $0.append("slow") }
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: started), "the slow call did not start")
        for _ in 0..<5 {
            _ = try client.unary(EchoTestService.echo, request: [1], options: CallOptions())
            order.withLock { $0.append("fast") }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(order.withLock { $0 }, ["fast", "fast", "fast", "fast", "fast", "slow"])
    }

    func testAsyncCalls() async throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let request = Array("async \(i)".utf8)
                    return try await client.unary(EchoTestService.echo, request: request, options: CallOptions()) == request
                }
            }
            for try await ok in group { XCTAssertTrue(ok) }
        }
    }

    func testDeadlineExceeded() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let start = ContinuousClock.now
        XCTAssertThrowsError(try client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 1000),
                                              options: CallOptions(timeout: .milliseconds(100)))) { error in
            XCTAssertEqual((error as? RPCError)?.code, .deadlineExceeded)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(900))
        // The connection still serves.
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [7], options: CallOptions()), [7])
    }

    /// A queued blocking call whose deadline passed is answered DEADLINE_EXCEEDED without running.
    func testServerSkipsExpiredQueuedWork() throws {
        let server = try TestHarness.startServer(workerThreads: 1)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let group = DispatchGroup()
        let started = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        DispatchQueue.global().async(group: group) {
            _ = try? client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 400), options: CallOptions())
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: started), "the slow call did not take the worker")
        XCTAssertThrowsError(try client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 0),
                                              options: CallOptions(timeout: .milliseconds(100)))) { error in
            XCTAssertEqual((error as? RPCError)?.code, .deadlineExceeded)
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
    }

    func testCompressionAboveThreshold() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        _ = try client.unary(EchoTestService.echo, request: [1], options: CallOptions())  // SETTINGS exchanged
        XCTAssertEqual(server.statistics.compressedRequests, 0)
        let big = [UInt8](repeating: 0x61, count: 60_000)  // under the 64 KiB message limit
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: big, options: CallOptions()), big)
        XCTAssertEqual(server.statistics.compressedRequests, 1)
        XCTAssertEqual(server.statistics.compressedReplies, 1)
        XCTAssertEqual(client.statistics.compressedReplies, 1)
        let small = [UInt8](repeating: 0x61, count: 500)
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: small, options: CallOptions()), small)
        XCTAssertEqual(server.statistics.compressedRequests, 1)
    }

    func testDecompressedSizeBounded() throws {
        var limits = ServerLimits()
        limits.maxDecompressedSize = 50_000
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        _ = try client.unary(EchoTestService.echo, request: [1], options: CallOptions())
        XCTAssertThrowsError(try client.unary(EchoTestService.echo, request: [UInt8](repeating: 0, count: 1_000_000),
                                              options: CallOptions())) { error in
            XCTAssertEqual((error as? RPCError)?.code, .resourceExhausted)
        }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [2], options: CallOptions()), [2])
    }

    func testMutualTLSAccepted() throws {
        let server = try TestHarness.startServer(clientCertificates: .required)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port, clientCertificate: true)
        defer { client.close() }
        let reply = try client.unary(EchoTestService.metadata, request: [], options: CallOptions())
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "subject=/CN=test-client")
    }

    func testMutualTLSRefused() throws {
        let server = try TestHarness.startServer(clientCertificates: .required)
        defer { server.shutdown(grace: .seconds(1)) }
        for rogue in [false, true] {
            let client = try TestHarness.client(port: server.port, clientCertificate: rogue, rogue: rogue)
            defer { client.close() }
            XCTAssertThrowsError(try client.unary(EchoTestService.echo, request: [1], options: CallOptions())) { error in
                XCTAssertEqual((error as? RPCError)?.code, .unavailable, "\(error)")
            }
        }
    }

    func testClientVerifiesServerName() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let certs = try TestCertificates.shared()
        let wrongName = try ClientConnection(configuration: ClientConfiguration(
            host: "127.0.0.1", port: server.port, tls: .client(trustRootsFile: certs.caFile), serverName: "other.example"))
        XCTAssertThrowsError(try wrongName.unary(EchoTestService.echo, request: [1], options: CallOptions())) { error in
            XCTAssertEqual((error as? RPCError)?.code, .unavailable)
            XCTAssertTrue("\(error)".contains("certificate verify failed"), "\(error)")
        }
        let byName = try TestHarness.client(port: server.port, host: "localhost")
        defer { byName.close() }
        XCTAssertEqual(try byName.unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
    }

    func testTLSConfigurationErrorsCarryOpenSSLReasons() {
        XCTAssertThrowsError(try TLSContext(configuration: .server(certificateChainFile: "/nonexistent.pem", privateKeyFile: "/nonexistent.key"),
                                            isServer: true)) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent.pem"), "\(error)")
            XCTAssertFalse((error as? TLSError)?.reasons.isEmpty ?? true, "\(error)")
        }
    }

    /// A client speaking plain TCP to the TLS port is closed; the server keeps serving.
    func testPlaintextClientClosed() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let fd = try connectLoopback(port: server.port)
        defer { close(fd) }
        var hello = WireProtocol.preface
        FrameEncoder.append(Frame(type: .settings, payload: ConnectionSettings().encode()), to: &hello)
        hello += Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        XCTAssertEqual(write(fd, hello, hello.count), hello.count)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var closed = false
        for _ in 0..<10 {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 || (n < 0 && errno == ECONNRESET) { closed = true; break }
            if n < 0 { break }  // timeout
        }
        XCTAssertTrue(closed, "the server should close a plaintext connection")
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
    }

    /// Garbage, truncated and oversized frames get ERROR and a close; another connection is served throughout.
    func testBadFramesAnsweredWithErrorAndClose() throws {
        var limits = ServerLimits()
        limits.maxFrameSize = 64 * 1024
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let good = try TestHarness.client(port: server.port)
        defer { good.close() }
        XCTAssertEqual(try good.unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])

        // Garbage instead of the preface.
        var raw = try RawTLSClient(port: server.port)
        try raw.send(Array("GARBAGE!GARBAGE!".utf8))
        var result = raw.readUntilClosed()
        XCTAssertTrue(result.closed)
        XCTAssertEqual(result.frames.last?.type, .error)
        XCTAssertEqual(try result.frames.last.map { try ErrorPayload.decode($0.payload).status }, .internalError)
        XCTAssertEqual(try good.unary(EchoTestService.echo, request: [2], options: CallOptions()), [2])

        // A frame of an unknown type after a good start.
        raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        try raw.send([0, 0, 0, 0, 0x7F, 0, 0, 0, 0, 1])
        result = raw.readUntilClosed()
        XCTAssertTrue(result.closed)
        XCTAssertEqual(result.frames.first?.type, .settings)
        XCTAssertEqual(result.frames.last?.type, .error)

        // A CALL whose payload is truncated (method length beyond the payload).
        raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        try raw.send([0, 0, 0, 3, FrameType.call.rawValue, 0, 0, 0, 0, 1, 0, 50, 0x41])
        result = raw.readUntilClosed()
        XCTAssertTrue(result.closed)
        XCTAssertEqual(result.frames.last?.type, .error)

        // An oversized frame, refused from its header.
        raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        try raw.send([0, 0x10, 0, 0, FrameType.call.rawValue, 0, 0, 0, 0, 1])
        result = raw.readUntilClosed()
        XCTAssertTrue(result.closed)
        XCTAssertEqual(result.frames.last?.type, .error)
        XCTAssertEqual(try result.frames.last.map { try ErrorPayload.decode($0.payload).status }, .resourceExhausted)

        XCTAssertEqual(try good.unary(EchoTestService.echo, request: [3], options: CallOptions()), [3])
        XCTAssertEqual(server.statistics.protocolErrors, 4)
    }

    func testTooManyCallsInFlightAndOverload() throws {
        var limits = ServerLimits()
        limits.maxCallsInFlightPerConnection = 4
        let server = try TestHarness.startServer(limits: limits, workerThreads: 1)
        defer { server.shutdown(grace: .seconds(2)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let codes = Locked<[StatusCode]>([])
        let group = DispatchGroup()
        for _ in 0..<10 {
            group.enter()
            Thread {
                do {
                    _ = try client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 200), options: CallOptions())
                    codes.withLock { $0.append(.ok) }
                } catch {
                    codes.withLock { $0.append((error as? RPCError)?.code ?? .unknown) }
                }
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        let all = codes.withLock { $0 }
        XCTAssertEqual(all.count, 10)
        XCTAssertTrue(all.contains(.resourceExhausted), "\(all)")
        XCTAssertTrue(all.contains(.ok), "\(all)")
    }

    /// SIGTERM-style shutdown: GOAWAY, the slow call in flight finishes, new calls get UNAVAILABLE.
    func testGracefulShutdownFinishesInFlightCall() throws {
        let server = try TestHarness.startServer()
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
        let slowResult = Locked<Result<[UInt8], any Error>?>(nil)
        let group = DispatchGroup()
        let started = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        DispatchQueue.global().async(group: group) {
            let r = Result { try client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 500), options: CallOptions()) }
            slowResult.withLock { $0 = r }
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: started), "the slow call did not start")
        let shutdownDone = DispatchGroup()
        let port = server.port
        DispatchQueue.global().async(group: shutdownDone) { server.shutdown(grace: .seconds(5)) }
        // The listener closes once every I/O loop has begun the shutdown (GOAWAY sent).
        XCTAssertTrue(waitUntil { !isListening(port: port) }, "the server did not begin its shutdown")
        XCTAssertThrowsError(try client.unary(EchoTestService.echo, request: [2], options: CallOptions())) { error in
            XCTAssertEqual((error as? RPCError)?.code, .unavailable, "\(error)")
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try slowResult.withLock { try $0?.get() }, EchoTestService.slowRequest(millis: 500))
        XCTAssertEqual(shutdownDone.wait(timeout: .now() + 10), .success)
        XCTAssertThrowsError(try client.unary(EchoTestService.echo, request: [3], options: CallOptions())) { error in
            XCTAssertEqual((error as? RPCError)?.code, .unavailable)
        }
    }

    func testGracePeriodEndsStuckCalls() throws {
        let server = try TestHarness.startServer()
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let group = DispatchGroup()
        let code = Locked<StatusCode?>(nil)
        let started = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        DispatchQueue.global().async(group: group) {
            do {
                _ = try client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 2000), options: CallOptions())
            } catch {
                code.withLock { $0 = (error as? RPCError)?.code }
            }
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: started), "the slow call did not start")
        let start = ContinuousClock.now
        server.shutdown(grace: .milliseconds(200))
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(code.withLock { $0 }, .unavailable)
        // The worker still finishes its sleep before the pool joins.
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
    }

    /// A dropped connection fails calls in flight with UNAVAILABLE; the next call reconnects.
    func testDroppedConnectionFailsCallsAndReconnects() throws {
        let server = try TestHarness.startServer()
        let port = server.port
        let client = try TestHarness.client(port: port)
        defer { client.close() }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [1], options: CallOptions()), [1])
        let group = DispatchGroup()
        let code = Locked<StatusCode?>(nil)
        let started = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        DispatchQueue.global().async(group: group) {
            do {
                _ = try client.unary(EchoTestService.slow, request: EchoTestService.slowRequest(millis: 1000), options: CallOptions())
            } catch {
                code.withLock { $0 = (error as? RPCError)?.code }
            }
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: started), "the slow call did not start")
        server.shutdown(grace: .milliseconds(50))
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(code.withLock { $0 }, .unavailable)
        XCTAssertThrowsError(try client.unary(EchoTestService.echo, request: [2], options: CallOptions()))
        // A new server on the same port: the client reconnects by itself.
        let certs = try TestCertificates.shared()
        let second = try RPCServer(configuration: ServerConfiguration(port: port, tls: .server(
            certificateChainFile: certs.serverCertificateFile, privateKeyFile: certs.serverKeyFile)),
            services: [EchoTestService()], logger: TestHarness.logger)
        try second.start()
        defer { second.shutdown(grace: .seconds(1)) }
        XCTAssertEqual(try client.unary(EchoTestService.echo, request: [3], options: CallOptions()), [3])
        XCTAssertGreaterThanOrEqual(client.statistics.connectionsOpened, 2)
    }

    /// A client that sends but never reads is cut off; another client is served meanwhile.
    func testClientThatNeverReadsIsCutOff() throws {
        var limits = ServerLimits()
        limits.maxBufferedOutput = 64 * 1024
        limits.writeStallTimeout = .milliseconds(500)
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let good = try TestHarness.client(port: server.port, compression: false)
        defer { good.close() }

        let hog = try RawTLSClient(port: server.port, receiveBufferSize: 4096)
        try hog.sendHello(compression: false)
        let payload = [UInt8](repeating: 0x5A, count: 32 * 1024)
        let stop = Atomic<Bool>(false)
        let hogGroup = DispatchGroup()
        DispatchQueue.global().async(group: hogGroup) {
            var id: UInt32 = 1
            while !stop.load(ordering: .relaxed) && id < 2000 {
                var frame: [UInt8] = []
                FrameEncoder.appendCall(callID: id, head: CallHead(method: EchoTestService.echo.fullName), message: payload,
                                        flags: [], to: &frame)
                if (try? hog.send(frame)) == nil { break }
                id += 1
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        var served = 0
        var worst = Duration.zero
        while server.statistics.slowReadersCut == 0 && ContinuousClock.now < deadline {
            let t0 = ContinuousClock.now
            XCTAssertEqual(try good.unary(EchoTestService.echo, request: [9], options: CallOptions()), [9])
            worst = max(worst, ContinuousClock.now - t0)
            served += 1
            Thread.sleep(forTimeInterval: 0.01)
        }
        stop.store(true, ordering: .relaxed)
        XCTAssertEqual(server.statistics.slowReadersCut, 1)
        XCTAssertGreaterThan(served, 10)
        XCTAssertLessThan(worst, .milliseconds(250))
        XCTAssertEqual(hogGroup.wait(timeout: .now() + 10), .success)
    }
}
