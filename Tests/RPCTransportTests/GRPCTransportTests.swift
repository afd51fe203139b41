import Foundation
import RPCCore
@testable import RPCTransport
import Synchronization
import TestSupport
import XCTest

/// gRPC over HTTP/2 on the server's TLS port, spoken frame by frame (`H2TestClient`): what a
/// call looks like on the wire, refusals, the limits the server announces, the HTTP/2 attack
/// classes (rapid reset, CONTINUATION, SETTINGS, PING and empty-frame floods) refused at a
/// bounded cost, cancellation by RST_STREAM, and GOAWAY on shutdown. Loopback only; every flood is
/// a bounded number of frames.
final class GRPCTransportTests: XCTestCase {
    static let limits: ServerLimits = {
        var l = ServerLimits()
        l.maxCallsInFlightPerConnection = 4
        l.maxDecompressedSize = 4096
        l.maxHeaderListSize = 2048
        return l
    }()
    static let echo = "/rpctest.v1.Echo/Echo"
    static let enhanceYourCalm: UInt32 = 0xB

    func testUnaryCallsAnswerWithHeadersMessageAndTrailers() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try H2TestClient(port: server.port)
        try client.start()

        let reply = try XCTUnwrap(client.call(Self.echo, Array("hello".utf8), stream: 1))
        XCTAssertEqual(reply.headers[":status"], "200")
        XCTAssertEqual(reply.headers["content-type"], "application/grpc")
        XCTAssertEqual(reply.data, H2TestClient.message(Array("hello".utf8)))
        XCTAssertEqual(reply.trailers?["grpc-status"], "0")

        // Metadata arrives as headers (reserved ones left out); the call's context says gRPC.
        let metadata = try XCTUnwrap(client.call("/rpctest.v1.Echo/Metadata", [], stream: 3,
                                                 extra: [("authorization", "Bearer abc"), ("x-trace", "7"), ("grpc-timeout", "5S")]))
        let lines = String(decoding: metadata.data.dropFirst(5), as: UTF8.self).split(separator: "\n")
        XCTAssertTrue(lines.contains("authorization=Bearer abc"), "\(lines)")
        XCTAssertTrue(lines.contains("x-trace=7"), "\(lines)")
        XCTAssertFalse(lines.contains { $0.hasPrefix("te=") || $0.hasPrefix("grpc-") || $0.hasPrefix(":") }, "\(lines)")

        // A failure is Trailers-Only: one HEADERS with END_STREAM, grpc-message percent-encoded.
        let failed = try XCTUnwrap(client.call("/rpctest.v1.Echo/Fail", [5] + Array("nö 100%".utf8), stream: 5))
        XCTAssertNil(failed.trailers)
        XCTAssertEqual(failed.headers[":status"], "200")
        XCTAssertEqual(failed.grpcStatus, 5)
        XCTAssertEqual(failed.grpcMessage, "n%C3%B6 100%25")
        XCTAssertTrue(failed.data.isEmpty)

        // authrpc/1 still answers on the same port; open connections are counted by protocol.
        let rpc = try TestHarness.client(port: server.port)
        defer { rpc.close() }
        XCTAssertEqual(try rpc.unary(EchoTestService.echo, request: [1, 2], options: CallOptions()), [1, 2])
        XCTAssertTrue(waitUntil { server.openConnectionsByProtocol == (authrpc: 1, grpc: 1) }, "\(server.openConnectionsByProtocol)")
        client.connection.shutdown()
        _ = Glibc.shutdown(client.connection.fd, Int32(SHUT_RDWR))  // the peer sees EOF and closes its side
        XCTAssertTrue(waitUntil { server.openConnectionsByProtocol == (authrpc: 1, grpc: 0) }, "\(server.openConnectionsByProtocol)")
    }

    func testRequestsThatAreNotAcceptableAreRefusedAndTheConnectionServesOn() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try H2TestClient(port: server.port)
        try client.start()

        XCTAssertEqual(try client.call(Self.echo, [], stream: 1, contentType: "application/json")?.headers[":status"], "415")
        let unknown = try XCTUnwrap(client.call("/rpctest.v1.Echo/Nope", [], stream: 3))
        XCTAssertEqual(unknown.grpcStatus, Int(StatusCode.unimplemented.rawValue))
        XCTAssertEqual(unknown.grpcMessage, "unknown method rpctest.v1.Echo/Nope")
        let gzip = try XCTUnwrap(client.call(Self.echo, [], stream: 5, extra: [("grpc-encoding", "gzip")]))
        XCTAssertEqual(gzip.grpcStatus, Int(StatusCode.unimplemented.rawValue))
        let timeout = try XCTUnwrap(client.call(Self.echo, [], stream: 7, extra: [("grpc-timeout", "soon")]))
        XCTAssertEqual(timeout.grpcStatus, Int(StatusCode.invalidArgument.rawValue))
        let headers = try XCTUnwrap(client.call(Self.echo, [], stream: 9, extra: [("x-big", String(repeating: "a", count: 3000))]))
        XCTAssertEqual(headers.grpcStatus, Int(StatusCode.resourceExhausted.rawValue))
        XCTAssertEqual(headers.grpcMessage, "request headers larger than the server's limit (2048 bytes)")
        let big = try XCTUnwrap(client.call(Self.echo, [UInt8](repeating: 1, count: 5000), stream: 11))
        XCTAssertEqual(big.grpcStatus, Int(StatusCode.resourceExhausted.rawValue))
        XCTAssertEqual(big.grpcMessage, "message larger than the server's limit (4096 bytes)")
        // A deadline the call cannot meet (a 300 ms call, 50 ms given): DEADLINE_EXCEEDED.
        let late = try XCTUnwrap(client.call("/rpctest.v1.Echo/Slow", EchoTestService.slowRequest(millis: 300), stream: 13,
                                             extra: [("grpc-timeout", "50m")]))
        XCTAssertEqual(late.grpcStatus, Int(StatusCode.deadlineExceeded.rawValue))
        // Two messages for a unary method.
        let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: Self.echo))
        try client.send(H2TestClient.frame(.headers, flags: 0x4, stream: 15, block)
                        + H2TestClient.frame(.data, flags: 0x1, stream: 15, H2TestClient.message([1]) + H2TestClient.message([2])))
        XCTAssertEqual(client.readResponse(stream: 15)?.grpcStatus, Int(StatusCode.internalError.rawValue))

        XCTAssertEqual(try client.call(Self.echo, [9], stream: 17)?.trailers?["grpc-status"], "0")
    }

    func testServerSettingsCarryTheLimits() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try H2TestClient(port: server.port)
        try client.start()
        let frames = client.read { $0.contains { $0.type == H2TestClient.FrameType.settings.rawValue && $0.flags == 0 } }
        let settings = try XCTUnwrap(frames.first { $0.type == H2TestClient.FrameType.settings.rawValue && $0.flags == 0 })
        var values: [UInt16: UInt32] = [:]
        for i in stride(from: 0, to: settings.payload.count, by: 6) {
            let p = settings.payload
            values[UInt16(p[i]) << 8 | UInt16(p[i + 1])] = p[i + 2..<i + 6].reduce(0) { $0 << 8 | UInt32($1) }
        }
        XCTAssertEqual(values[3], 4, "MAX_CONCURRENT_STREAMS = the per-connection call limit")
        XCTAssertEqual(values[6], 2048, "MAX_HEADER_LIST_SIZE")
        XCTAssertEqual(values[4], UInt32(GRPCSession.initialWindowSize), "INITIAL_WINDOW_SIZE")
        XCTAssertEqual(values[2], 0, "no server push")
    }

    func testStreamsBeyondTheCallLimitAreRefused() throws {
        let server = try TestHarness.startServer(limits: Self.limits, workerThreads: 1)
        defer { server.shutdown(grace: .seconds(2)) }
        let client = try H2TestClient(port: server.port)
        try client.start()  // no SETTINGS ACK: the limit holds before the client acknowledges it
        let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: "/rpctest.v1.Echo/Slow"))
        var out: [UInt8] = []
        for stream in stride(from: UInt32(1), through: 9, by: 2) {
            out += H2TestClient.frame(.headers, flags: 0x4, stream: stream, block)
                + H2TestClient.frame(.data, flags: 0x1, stream: stream, H2TestClient.message(EchoTestService.slowRequest(millis: 100)))
        }
        try client.send(out)
        let isReset = { (frame: H2TestClient.H2Frame) in frame.type == H2TestClient.FrameType.rstStream.rawValue }
        let frames = client.read(timeout: .seconds(10)) { frames in
            stride(from: UInt32(1), through: 9, by: 2).allSatisfy { s in frames.contains { $0.stream == s && ($0.endStream || isReset($0)) } }
        }
        let statuses = stride(from: UInt32(1), through: 7, by: 2).map { client.response(stream: $0, in: frames)?.grpcStatus }
        XCTAssertEqual(statuses, [0, 0, 0, 0])
        // The fifth: RST_STREAM REFUSED_STREAM (nghttp2 applies the limit it announced at once), or
        // RESOURCE_EXHAUSTED from the server's own count.
        let fifth = frames.filter { $0.stream == 9 }
        let refused = fifth.contains { isReset($0) && $0.payload == [0, 0, 0, 7] }
        let exhausted = client.response(stream: 9, in: frames)?.grpcStatus == Int(StatusCode.resourceExhausted.rawValue)
        XCTAssertTrue(refused || exhausted, "\(fifth)")
    }

    func testRapidResetIsCutOff() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try H2TestClient(port: server.port)
        try client.start()
        let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: Self.echo))
        var burst: [UInt8] = []
        var stream: UInt32 = 1
        for _ in 0..<1_000 {  // CVE-2023-44487: open a stream, cancel it at once
            burst += H2TestClient.frame(.headers, flags: 0x4, stream: stream, block)
                + H2TestClient.frame(.rstStream, stream: stream, [0, 0, 0, 8])
            stream += 2
        }
        try client.send(burst)
        let frames = client.readUntilClosed()
        XCTAssertTrue(client.closed)
        XCTAssertEqual(H2TestClient.goAwayCode(frames), Self.enhanceYourCalm)
        XCTAssertGreaterThan(server.statistics.protocolErrors, 0)
    }

    func testContinuationFloodIsCutOff() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try H2TestClient(port: server.port)
        try client.start()
        // CVE-2024-27316 class: HEADERS without END_HEADERS, then CONTINUATION after CONTINUATION.
        var out = H2TestClient.frame(.headers, stream: 1, H2TestClient.headerBlock(H2TestClient.requestFields(path: Self.echo)))
        for i in 0..<200 {
            out += H2TestClient.frame(.continuation, stream: 1, H2TestClient.headerBlock([("x-\(i)", "v")]))
        }
        _ = try client.send(out)
        let frames = client.readUntilClosed()
        XCTAssertTrue(client.closed)
        XCTAssertEqual(H2TestClient.goAwayCode(frames), Self.enhanceYourCalm)
    }

    func testSettingsPingAndEmptyFrameFloodsAreCutOff() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let floods: [(String, [UInt8])] = [
            ("SETTINGS", H2TestClient.frame(.settings)),
            ("PING", H2TestClient.frame(.ping, [0, 1, 2, 3, 4, 5, 6, 7])),
            ("empty DATA", []),
        ]
        for (name, frame) in floods {
            let client = try H2TestClient(port: server.port)
            try client.start()
            if name == "PING" {  // a few PINGs are answered
                try client.send(H2TestClient.frame(.ping, [1, 1, 1, 1, 1, 1, 1, 1]) + H2TestClient.frame(.ping, [2, 2, 2, 2, 2, 2, 2, 2]))
                let answered = client.read { $0.filter { $0.type == H2TestClient.FrameType.ping.rawValue && $0.flags & 1 != 0 }.count == 2 }
                XCTAssertEqual(answered.filter { $0.type == H2TestClient.FrameType.ping.rawValue && $0.flags & 1 != 0 }.map(\.payload),
                               [[1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2, 2, 2]])
            }
            var out: [UInt8] = []
            if frame.isEmpty {
                out = H2TestClient.frame(.headers, flags: 0x4, stream: 1, H2TestClient.headerBlock(H2TestClient.requestFields(path: Self.echo)))
                for _ in 0..<1_000 { out += H2TestClient.frame(.data, stream: 1) }
            } else {
                for _ in 0..<1_000 { out += frame }
            }
            _ = try client.send(out)
            let frames = client.readUntilClosed()
            XCTAssertTrue(client.closed, name)
            XCTAssertEqual(H2TestClient.goAwayCode(frames), Self.enhanceYourCalm, name)
            let acks = frames.filter { $0.type == H2TestClient.FrameType.ping.rawValue && $0.flags & 1 != 0 }.count
            XCTAssertLessThanOrEqual(acks, GRPCSession.pingLimit.burst, "\(name): the flood's cost is bounded")
        }
        // A well-behaved client is still served.
        let client = try H2TestClient(port: server.port)
        try client.start()
        XCTAssertEqual(try client.call(Self.echo, [7], stream: 1)?.trailers?["grpc-status"], "0")
    }

    func testResetStreamCancelsAQueuedCall() throws {
        let server = try TestHarness.startServer(limits: Self.limits, workerThreads: 1)
        defer { server.shutdown(grace: .seconds(2)) }
        let client = try H2TestClient(port: server.port)
        try client.start()
        let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: "/rpctest.v1.Echo/Slow"))
        let before = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        // Stream 1 takes the only worker; stream 3 waits for it and is reset meanwhile.
        for stream: UInt32 in [1, 3] {
            try client.send(H2TestClient.frame(.headers, flags: 0x4, stream: stream, block)
                            + H2TestClient.frame(.data, flags: 0x1, stream: stream, H2TestClient.message(EchoTestService.slowRequest(millis: 300))))
        }
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: before))
        try client.send(H2TestClient.frame(.rstStream, stream: 3, [0, 0, 0, 8]))
        XCTAssertEqual(client.readResponse(stream: 1)?.trailers?["grpc-status"], "0")
        XCTAssertEqual(try client.call(Self.echo, [1], stream: 5)?.trailers?["grpc-status"], "0")
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(EchoTestService.slowCallsStarted.load(ordering: .relaxed), before + 1, "the reset call never ran")
    }

    func testShutdownSendsGoAwayAndAnswersTheCallsInFlight() throws {
        let server = try TestHarness.startServer(limits: Self.limits)
        let client = try H2TestClient(port: server.port)
        try client.start()
        let before = EchoTestService.slowCallsStarted.load(ordering: .relaxed)
        let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: "/rpctest.v1.Echo/Slow"))
        try client.send(H2TestClient.frame(.headers, flags: 0x4, stream: 1, block)
                        + H2TestClient.frame(.data, flags: 0x1, stream: 1, H2TestClient.message(EchoTestService.slowRequest(millis: 300))))
        XCTAssertTrue(EchoTestService.waitForSlowCall(after: before))
        let stopped = Thread { server.shutdown(grace: .seconds(5)) }
        stopped.start()
        let frames = client.readUntilClosed(timeout: .seconds(5))
        XCTAssertTrue(client.closed)
        XCTAssertEqual(H2TestClient.goAwayCode(frames), 0, "GOAWAY NO_ERROR")
        let goAway = try XCTUnwrap(frames.firstIndex { $0.type == H2TestClient.FrameType.goAway.rawValue })
        let answer = try XCTUnwrap(frames.lastIndex { $0.stream == 1 && $0.endStream })
        XCTAssertLessThan(goAway, answer, "GOAWAY first, then the call in flight is answered")
        XCTAssertEqual(client.response(stream: 1, in: frames)?.trailers?["grpc-status"], "0")
    }
}

extension GRPCTransportTests {
    /// Reply-per-message methods (what gRPC server reflection is): `Each` answers every message
    /// inline with its bytes reversed; `EachBlocking` sleeps the first byte's milliseconds on a worker.
    struct StreamTestService: RPCServiceProvider {
        static let each = MethodDescriptor(service: "rpctest.v1.Stream", method: "Each")
        static let eachBlocking = MethodDescriptor(service: "rpctest.v1.Stream", method: "EachBlocking")
        var methods: [ServerMethod] {
            [
                ServerMethod(descriptor: Self.each, kind: .inline, shape: .replyPerMessage) { request, context in
                    guard context.wireProtocol == .grpc else { throw RPCError(.internalError, "not gRPC") }
                    if request == [0xFF] { throw RPCError(.notFound, "no such thing") }
                    return request.reversed()
                },
                ServerMethod(descriptor: Self.eachBlocking, kind: .blocking, shape: .replyPerMessage) { request, _ in
                    usleep(UInt32(request.first ?? 0) * 1000)
                    return request
                },
            ]
        }
    }

    func testReplyPerMessageStreamsAnswerEachMessageInOrderThenOK() throws {
        var limits = Self.limits
        limits.frameTimeout = .milliseconds(300)
        let server = try TestHarness.startServer(limits: limits, extraServices: [StreamTestService()])
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try H2TestClient(port: server.port)
        try client.start()
        for (stream, path) in [(UInt32(1), "/rpctest.v1.Stream/Each"), (3, "/rpctest.v1.Stream/EachBlocking")] {
            let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: path))
            // Messages cut across DATA frames; the blocking one's calls take 30, 20, 10 ms: answers stay in order.
            let messages: [[UInt8]] = [[30, 1], [20, 2, 2], [10]]
            let bytes = messages.flatMap { H2TestClient.message($0) }
            try client.send(H2TestClient.frame(.headers, flags: 0x4, stream: stream, block)
                            + H2TestClient.frame(.data, stream: stream, Array(bytes[0..<4]))
                            + H2TestClient.frame(.data, stream: stream, Array(bytes[4...])))
            Thread.sleep(forTimeInterval: 0.6)  // past the frame timeout: a stream of this shape may stay open
            try client.send(H2TestClient.frame(.data, flags: 0x1, stream: stream))
            let reply = try XCTUnwrap(client.readResponse(stream: stream), path)
            let expected = stream == 1 ? messages.map { Array($0.reversed()) } : messages
            XCTAssertEqual(reply.data, expected.flatMap { H2TestClient.message($0) }, path)
            XCTAssertEqual(reply.trailers?["grpc-status"], "0", path)
        }
        // A failure after replies: their messages, then trailers with its status; later messages are not run.
        let failing = H2TestClient.headerBlock(H2TestClient.requestFields(path: "/rpctest.v1.Stream/Each"))
        try client.send(H2TestClient.frame(.headers, flags: 0x4, stream: 7, failing)
                        + H2TestClient.frame(.data, flags: 0x1, stream: 7,
                                             H2TestClient.message([1, 2]) + H2TestClient.message([0xFF]) + H2TestClient.message([3])))
        let failed = try XCTUnwrap(client.readResponse(stream: 7))
        XCTAssertEqual(failed.data, H2TestClient.message([2, 1]))
        XCTAssertEqual(failed.trailers?["grpc-status"], String(StatusCode.notFound.rawValue))
        XCTAssertEqual(failed.trailers?["grpc-message"], "no such thing")
        // No message at all: OK at once (Trailers-Only).
        let empty = H2TestClient.headerBlock(H2TestClient.requestFields(path: "/rpctest.v1.Stream/Each"))
        try client.send(H2TestClient.frame(.headers, flags: 0x5, stream: 9, empty))
        XCTAssertEqual(client.readResponse(stream: 9)?.grpcStatus, 0)
    }

    func testHandshakeAndIdleDeadlinesApplyToHTTP2() throws {
        var limits = Self.limits
        limits.handshakeTimeout = .milliseconds(400)
        limits.idleTimeout = .milliseconds(600)
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        // TLS done, but no preface and SETTINGS: closed after the handshake deadline.
        let silent = try H2TestClient(port: server.port)
        _ = silent.readUntilClosed(timeout: .seconds(3))
        XCTAssertTrue(silent.closed, "no preface: closed")
        // After a call, nothing: GOAWAY NO_ERROR, then closed.
        let idle = try H2TestClient(port: server.port)
        try idle.start()
        XCTAssertEqual(try idle.call(Self.echo, [1], stream: 1)?.trailers?["grpc-status"], "0")
        let frames = idle.readUntilClosed(timeout: .seconds(3))
        XCTAssertTrue(idle.closed, "idle: closed")
        XCTAssertEqual(H2TestClient.goAwayCode(frames), 0)
    }

    func testAUnaryRequestLeftIncompleteIsReset() throws {
        var limits = Self.limits
        limits.frameTimeout = .milliseconds(300)
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try H2TestClient(port: server.port)
        try client.start()
        let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: Self.echo))
        try client.send(H2TestClient.frame(.headers, flags: 0x4, stream: 1, block) + H2TestClient.frame(.data, stream: 1, [0, 0]))
        let frames = client.read(timeout: .seconds(3)) { $0.contains { $0.stream == 1 && $0.type == H2TestClient.FrameType.rstStream.rawValue } }
        let reset = try XCTUnwrap(frames.first { $0.stream == 1 && $0.type == H2TestClient.FrameType.rstStream.rawValue })
        XCTAssertEqual(reset.payload, [0, 0, 0, 8], "RST_STREAM CANCEL")
        XCTAssertEqual(try client.call(Self.echo, [1], stream: 3)?.trailers?["grpc-status"], "0", "the connection serves on")
    }
}

/// The pieces of gRPC's wire format that need no connection.
final class GRPCWireTests: XCTestCase {
    func testTimeouts() {
        XCTAssertEqual(GRPCWire.parseTimeout("1H"), .seconds(3600))
        XCTAssertEqual(GRPCWire.parseTimeout("2M"), .seconds(120))
        XCTAssertEqual(GRPCWire.parseTimeout("3S"), .seconds(3))
        XCTAssertEqual(GRPCWire.parseTimeout("250m"), .milliseconds(250))
        XCTAssertEqual(GRPCWire.parseTimeout("99999999u"), .microseconds(99_999_999))
        XCTAssertEqual(GRPCWire.parseTimeout("7n"), .nanoseconds(7))
        for bad in ["", "S", "5", "123456789S", "5s", "-5S", "5 S", "1.5S"] {
            XCTAssertNil(GRPCWire.parseTimeout(bad), bad)
        }
    }

    func testStatusMessagesArePercentEncoded() {
        XCTAssertEqual(String(decoding: GRPCWire.percentEncode("plain text, ok."), as: UTF8.self), "plain text, ok.")
        XCTAssertEqual(String(decoding: GRPCWire.percentEncode("50% ö\n"), as: UTF8.self), "50%25 %C3%B6%0A")
    }

    func testMessagesAreCutFromAnySplitOfTheBytes() throws {
        var bytes: [UInt8] = []
        for m in [[UInt8](), [1], [UInt8](repeating: 2, count: 300)] { GRPCWire.framed(m, into: &bytes) }
        for split in [1, 2, 5, 7, 64, bytes.count] {
            var assembler = GRPCMessageAssembler(maxMessageSize: 1000)
            var messages: [[UInt8]] = []
            for start in stride(from: 0, to: bytes.count, by: split) {
                let chunk = Array(bytes[start..<min(start + split, bytes.count)])
                try feed(&assembler, chunk, into: &messages)
            }
            XCTAssertEqual(messages, [[], [1], [UInt8](repeating: 2, count: 300)], "split \(split)")
            XCTAssertFalse(assembler.hasPartialMessage)
        }
    }

    /// Feeds `chunk` to `assembler`, adding the messages it completes to `messages`.
    private func feed(_ assembler: inout GRPCMessageAssembler, _ chunk: [UInt8], into messages: inout [[UInt8]]) throws {
        let outcome: Result<Void, RPCError> = chunk.withUnsafeBytes { bytes in
            do throws(RPCError) {
                try assembler.append(bytes) { messages.append(Array($0)) }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try outcome.get()
    }

    func testOversizedAndCompressedMessagesAreRefusedFromTheirPrefix() {
        var assembler = GRPCMessageAssembler(maxMessageSize: 10)
        let tooLong: [UInt8] = [0, 0, 0, 0, 11]
        var ignored: [[UInt8]] = []
        XCTAssertThrowsError(try feed(&assembler, tooLong, into: &ignored)) {
            XCTAssertEqual(($0 as? RPCError)?.code, .resourceExhausted)
        }
        var other = GRPCMessageAssembler(maxMessageSize: 10)
        let compressed: [UInt8] = [1, 0, 0, 0, 1, 9]
        XCTAssertThrowsError(try feed(&other, compressed, into: &ignored)) {
            XCTAssertEqual(($0 as? RPCError)?.code, .internalError)
        }
    }

    func testFrameRateLimitAllowsABurstThenItsRate() {
        var limit = FrameRateLimit(burst: 3, perSecond: 10)
        let t0 = ContinuousClock.now
        XCTAssertEqual((0..<4).map { _ in limit.admit(now: t0) }, [true, true, true, false])
        XCTAssertTrue(limit.admit(now: t0 + .milliseconds(100)), "one token back after 100 ms at 10/s")
        XCTAssertFalse(limit.admit(now: t0 + .milliseconds(100)))
        XCTAssertEqual((0..<4).map { _ in limit.admit(now: t0 + .seconds(10)) }, [true, true, true, false], "refills to the burst, no more")
    }
}
