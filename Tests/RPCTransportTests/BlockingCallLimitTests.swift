import Foundation
import RPCCore
import RPCDispatch
@testable import RPCTransport
import TestSupport
import XCTest

/// What a connection may make the server hold for it, over real TLS: blocking calls queued or
/// running per connection, request bytes queued over all connections, and compressed requests,
/// inflated only by the worker that runs the call.
final class BlockingCallLimitTests: XCTestCase {
    typealias Gated = QueuedCallTests.GatedService

    func testDefaults() {
        let limits = ServerLimits()
        XCTAssertEqual(limits.maxFrameSize, 64 << 10)
        XCTAssertEqual(limits.maxDecompressedSize, 64 << 10)
        XCTAssertEqual(limits.maxBlockingCallsPerConnection, 8)
        XCTAssertEqual(limits.maxQueuedRequestBytes, 16 << 20)
    }

    /// The server states its frame and message limits in its SETTINGS.
    func testSettingsStateTheLimits() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        let frames = raw.readUntilClosed(timeout: .milliseconds(300)).frames
        let settings = try XCTUnwrap(frames.first.map { try ConnectionSettings.decode($0.payload) })
        XCTAssertEqual(settings.maxFrameSize, 64 << 10)
        XCTAssertEqual(settings.maxDecompressedSize, 64 << 10)
    }

    /// Twelve slow (blocking) calls on one connection where eight are allowed: four are refused
    /// at once, before any of the eight finishes, and inline calls on the same connection still run.
    func testBlockingCallsPerConnectionAreCapped() throws {
        let server = try TestHarness.startServer(workerThreads: 2)
        defer { server.shutdown(grace: .seconds(2)) }
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        var frames: [UInt8] = []
        for id in 1...12 as ClosedRange<UInt32> {
            FrameEncoder.appendCall(callID: id, head: CallHead(method: EchoTestService.slow.fullName),
                                    message: EchoTestService.slowRequest(millis: 400, id: id), flags: [], to: &frames)
        }
        FrameEncoder.appendCall(callID: 13, head: CallHead(method: EchoTestService.echo.fullName), message: [13],
                                flags: [], to: &frames)
        try raw.send(frames)
        let replies = Self.orderedReplies(raw, count: 13)
        let refused = replies.filter { $0.head.status == .resourceExhausted }
        XCTAssertEqual(replies.filter { $0.head.status == .ok }.count, 9, "\(replies.map(\.head.status))")
        XCTAssertEqual(refused.count, 4, "\(replies.map(\.head.status))")
        XCTAssertEqual(Set(refused.map(\.callID)), [9, 10, 11, 12])
        XCTAssertTrue(refused.allSatisfy { $0.head.message.contains("blocking calls") }, "\(refused.map(\.head.message))")
        // Refused at once: every refusal and the inline echo come before the first slow call's answer.
        let firstSlowAnswer = replies.firstIndex { $0.head.status == .ok && $0.callID <= 8 } ?? replies.count
        XCTAssertEqual(replies[..<firstSlowAnswer].map(\.callID).sorted(), [9, 10, 11, 12, 13])
        XCTAssertEqual(server.statistics.callsRejectedOverload, 4)
    }

    /// gRPC streams count against the same per-connection cap: with one blocking call allowed, a
    /// second stream's blocking call is refused at once while the first runs, and its place comes
    /// back once the first is answered.
    func testBlockingCallsPerGRPCConnectionAreCapped() throws {
        var limits = ServerLimits()
        limits.maxBlockingCallsPerConnection = 1
        let server = try TestHarness.startServer(limits: limits, workerThreads: 2)
        defer { server.shutdown(grace: .seconds(2)) }
        let client = try H2TestClient(port: server.port)
        try client.start()
        let block = H2TestClient.headerBlock(H2TestClient.requestFields(path: "/rpctest.v1.Echo/Slow"))
        var out: [UInt8] = []
        for stream: UInt32 in [1, 3] {
            out += H2TestClient.frame(.headers, flags: 0x4, stream: stream, block)
                + H2TestClient.frame(.data, flags: 0x1, stream: stream, H2TestClient.message(EchoTestService.slowRequest(millis: 300)))
        }
        try client.send(out)
        let frames = client.read { frames in [UInt32(1), 3].allSatisfy { s in frames.contains { $0.stream == s && $0.endStream } } }
        let refused = try XCTUnwrap(client.response(stream: 3, in: frames))
        XCTAssertEqual(refused.grpcStatus, Int(StatusCode.resourceExhausted.rawValue))
        XCTAssertEqual(refused.grpcMessage, "too many blocking calls on this connection (limit 1), try again later")
        XCTAssertEqual(client.response(stream: 1, in: frames)?.trailers?["grpc-status"], "0")
        let refusedAt = try XCTUnwrap(frames.firstIndex { $0.stream == 3 && $0.endStream })
        let answeredAt = try XCTUnwrap(frames.firstIndex { $0.stream == 1 && $0.endStream })
        XCTAssertLessThan(refusedAt, answeredAt, "refused at once, before the first call is answered")
        XCTAssertEqual(server.statistics.callsRejectedOverload, 1)
        XCTAssertEqual(try client.call("/rpctest.v1.Echo/Slow", EchoTestService.slowRequest(millis: 10), stream: 5)?
            .trailers?["grpc-status"], "0")
    }

    /// One worker held; calls of ~30 KiB queued from three connections where 64 KiB may be queued:
    /// the third is refused at once, the others run once the worker is free, and the budget comes back.
    func testQueuedRequestBytesAreBudgeted() throws {
        var limits = ServerLimits()
        limits.maxQueuedRequestBytes = 64 << 10
        let service = Gated()
        let server = try TestHarness.startServer(limits: limits, workerThreads: 1, extraServices: [service])
        defer { server.shutdown(grace: .seconds(2)) }
        defer { for _ in 0..<4 { service.open() } }  // whatever happens, nothing stays held
        let holder = try RawTLSClient(port: server.port)
        try holder.sendHello()
        try holder.send(Self.call(1, Gated.held, [1]))
        XCTAssertTrue(waitUntil { server.workerPoolLoad == (1, 0) }, "the worker is not held")

        let body = [UInt8](repeating: 0x42, count: 30 << 10)
        let queued = try (0..<3).map { _ in try RawTLSClient(port: server.port) }
        for (i, raw) in queued.enumerated() {
            try raw.sendHello()
            try raw.send(Self.call(1, Gated.counted, body))
            if i < 2 { XCTAssertTrue(waitUntil { server.workerPoolLoad == (1, i + 1) }, "call \(i) not queued") }
        }
        let refusal = Self.orderedReplies(queued[2], count: 1, timeout: .seconds(2))
        XCTAssertEqual(refusal.first?.head.status, .resourceExhausted, "over the queued-bytes budget: \(refusal)")
        XCTAssertEqual(service.counted, 0, "the worker is still held: nothing ran yet")

        service.open()
        XCTAssertEqual(Self.orderedReplies(holder, count: 1).first?.head.status, .ok)
        for raw in queued[..<2] {
            XCTAssertEqual(Self.orderedReplies(raw, count: 1).first?.head.status, .ok)
        }
        XCTAssertEqual(service.counted, 2)
        // The bytes went back with the calls: the refused connection's next call runs.
        try queued[2].send(Self.call(3, Gated.counted, body))
        XCTAssertEqual(Self.orderedReplies(queued[2], count: 1).first?.head.status, .ok)
    }

    /// A compressed request for a blocking method is inflated by the worker that runs it, not by
    /// the I/O thread on arrival: with the only worker held, a zlib bomb gets no answer; once the
    /// worker is free it is refused RESOURCE_EXHAUSTED (past the message limit) and its handler never runs.
    func testCompressedBlockingRequestIsInflatedOnTheWorker() throws {
        let service = Gated()
        let server = try TestHarness.startServer(workerThreads: 1, extraServices: [service])
        defer { server.shutdown(grace: .seconds(2)) }
        defer { for _ in 0..<4 { service.open() } }  // whatever happens, nothing stays held
        let raw = try RawTLSClient(port: server.port)
        try raw.sendHello()
        try raw.send(Self.call(1, Gated.held, [1]))
        XCTAssertTrue(waitUntil { server.workerPoolLoad == (1, 0) }, "the worker is not held")
        let bomb = MessageCompression.deflate([UInt8](repeating: 0, count: 4 << 20))
        try raw.send(Self.call(3, Gated.counted, bomb, flags: .compressed))
        XCTAssertTrue(waitUntil { server.workerPoolLoad == (1, 1) }, "the compressed call was not queued")
        XCTAssertEqual(Self.orderedReplies(raw, count: 1, timeout: .milliseconds(300)).count, 0,
                       "the compressed call was answered while no worker was free: inflated on the I/O thread")
        service.open()
        let replies = Self.orderedReplies(raw, count: 2)
        XCTAssertEqual(replies.first { $0.callID == 3 }?.head.status, .resourceExhausted, "\(replies)")
        XCTAssertEqual(service.counted, 0)
    }

    /// A compressed request within the limits reaches a blocking handler inflated.
    func testCompressedBlockingRequestRuns() throws {
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        _ = try client.unary(EchoTestService.echo, request: [1], options: CallOptions())  // SETTINGS exchanged
        let request = EchoTestService.slowRequest(millis: 1) + [UInt8](repeating: 0x61, count: 50_000)
        XCTAssertEqual(try client.unary(EchoTestService.slow, request: request, options: CallOptions()), request)
        XCTAssertEqual(server.statistics.compressedRequests, 1)
    }

    /// The state machine counts blocking calls from queued to completed (cancelled ones until
    /// their worker is done) and refuses the one past the cap; SETTINGS ends the handshake.
    func testStateMachineCountsBlockingCalls() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 16, maxBlockingCalls: 2)
        XCTAssertTrue(m.isAwaitingSettings)
        XCTAssertEqual(m.received(Frame(type: .settings, payload: ConnectionSettings().encode())), .none)
        XCTAssertFalse(m.isAwaitingSettings)
        for id in [1, 3, 5] as [UInt32] {
            var out: [UInt8] = []
            FrameEncoder.appendCall(callID: id, head: CallHead(method: "a.B/C"), message: [], flags: [], to: &out)
            _ = m.received(Frame(type: .call, callID: id, payload: Array(out[WireProtocol.headerSize...])))
        }
        XCTAssertNil(m.blockingCallRefusal)
        m.queued(1, cancellation: CallCancellation())
        m.queued(3, cancellation: CallCancellation())
        m.queued(3, cancellation: CallCancellation())  // once per call
        XCTAssertEqual(m.blockingCalls, 2)
        XCTAssertEqual(m.blockingCallRefusal?.status, .resourceExhausted)
        XCTAssertEqual(m.received(Frame(type: .cancel, callID: 1)).isCancelQueued, true)
        XCTAssertEqual(m.blockingCalls, 2, "a cancelled call holds its place until its worker is done")
        XCTAssertFalse(m.callCompleted(1).sendReply)
        XCTAssertNil(m.blockingCallRefusal)
        _ = m.callCompleted(5)  // an inline call
        XCTAssertEqual(m.blockingCalls, 1)
        _ = m.callCompleted(3)
        XCTAssertEqual(m.blockingCalls, 0)
    }

    // MARK: Helpers

    static func call(_ id: UInt32, _ method: MethodDescriptor, _ message: [UInt8], flags: FrameFlags = []) -> [UInt8] {
        var out: [UInt8] = []
        FrameEncoder.appendCall(callID: id, head: CallHead(method: method.fullName), message: message, flags: flags, to: &out)
        return out
    }

    /// Replies in the order they arrive, until `count` came or `timeout` passed.
    static func orderedReplies(_ raw: RawTLSClient, count: Int,
                               timeout: Duration = .seconds(5)) -> [(callID: UInt32, head: ReplyHead)] {
        var out: [(callID: UInt32, head: ReplyHead)] = []
        var decoder = FrameDecoder(maxFrameSize: 1 << 24, expectsPreface: false)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + timeout
        while out.count < count && ContinuousClock.now < deadline {
            let r = try? buffer.withUnsafeMutableBytes { try raw.connection.read(into: $0) }
            guard case .done(let n)? = r else {
                if case .closed? = r { break }
                continue
            }
            decoder.append(Array(buffer[0..<n]))
            while let frame = try? decoder.next() {
                if frame.type == .reply, let head = try? ReplyHead.decode(frame.payload).0 { out.append((frame.callID, head)) }
            }
        }
        return out
    }
}

extension ServerConnectionStateMachine.ViewAction {
    var isCancelQueued: Bool {
        if case .cancelQueued = self { return true }
        return false
    }
}
