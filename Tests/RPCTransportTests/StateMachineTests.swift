import RPCCore
import RPCDispatch
@testable import RPCTransport
import XCTest

extension ServerConnectionStateMachine {
    /// Gives a whole `Frame` to the machine as the server does: as a view of its payload. For
    /// frames whose action does not point into the payload (all but CALL; a CALL's head is offsets).
    mutating func received(_ frame: Frame) -> ViewAction {
        frame.payload.withUnsafeBytes { received(FrameView(type: frame.type, flags: frame.flags, callID: frame.callID, payload: $0)) }
    }
}

/// The connection and call state machines, without sockets.
final class StateMachineTests: XCTestCase {
    private let settings = Frame(type: .settings, payload: ConnectionSettings().encode())

    private func call(_ id: UInt32, _ method: String = "rpctest.v1.Echo/Echo", message: [UInt8] = [1]) -> Frame {
        var out: [UInt8] = []
        FrameEncoder.appendCall(callID: id, head: CallHead(method: method), message: message, flags: [], to: &out)
        return Frame(type: .call, callID: id, payload: Array(out[WireProtocol.headerSize...]))
    }

    // MARK: Server

    func testServerRequiresSettingsFirst() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        guard case .protocolError(let v) = m.received(call(1)) else { return XCTFail() }
        XCTAssertEqual(v.code, .internalError)
        XCTAssertTrue(m.isClosed)
        XCTAssertEqual(m.received(call(2)), .none, "nothing after close")
    }

    func testServerCallLifecycle() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        XCTAssertEqual(m.received(settings), .none)
        XCTAssertTrue(m.peerAcceptsCompression)
        let frame = call(1, message: [7, 8])
        frame.payload.withUnsafeBytes { payload in
            guard case .startCall(1, let head, false) = m.received(FrameView(type: .call, callID: 1, payload: payload)) else {
                return XCTFail()
            }
            XCTAssertEqual(head.methodName(in: payload), "rpctest.v1.Echo/Echo")
            XCTAssertEqual(Array(payload[head.messageOffset...]), [7, 8])
            XCTAssertEqual(head.head(in: payload), CallHead(method: "rpctest.v1.Echo/Echo"))
        }
        XCTAssertEqual(m.callsInFlight, 1)
        XCTAssertEqual(m.callCompleted(1), .init(sendReply: true, closeAfterFlush: false))
        XCTAssertEqual(m.callsInFlight, 0)
    }

    func testServerCallIDsMustIncrease() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = m.received(settings)
        _ = m.received(call(5))
        guard case .protocolError = m.received(call(5)) else { return XCTFail("duplicate id accepted") }
    }

    func testServerLimitsCallsInFlight() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 2)
        _ = m.received(settings)
        _ = m.received(call(1))
        _ = m.received(call(2))
        XCTAssertEqual(m.received(call(3)), .reject(callID: 3, status: .resourceExhausted,
                                                     message: "too many calls in flight on this connection (limit 2)"))
        _ = m.callCompleted(1)
        guard case .startCall(4, _, _) = m.received(call(4)) else { return XCTFail() }
    }

    func testServerCancelDropsReply() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = m.received(settings)
        _ = m.received(call(1))
        XCTAssertFalse(m.isCancelled(1))
        XCTAssertEqual(m.received(Frame(type: .cancel, callID: 1)), .none, "an inline call has nothing to skip")
        XCTAssertTrue(m.isCancelled(1))
        XCTAssertEqual(m.callCompleted(1), .init(sendReply: false, closeAfterFlush: false))
        XCTAssertEqual(m.received(Frame(type: .cancel, callID: 9)), .none, "cancel of an unknown call is ignored")
    }

    /// A CANCEL for a call waiting for a worker hands back its flag, so the worker skips the call.
    func testServerCancelOfQueuedCallRaisesItsFlag() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = m.received(settings)
        _ = m.received(call(1))
        _ = m.received(call(2))
        let flag = CallCancellation()
        m.queued(2, cancellation: flag)
        XCTAssertEqual(m.received(Frame(type: .cancel, callID: 2)), .cancelQueued(flag))
        XCTAssertEqual(m.received(Frame(type: .cancel, callID: 1)), .none)
        XCTAssertEqual(m.callCompleted(2), .init(sendReply: false, closeAfterFlush: false))
        XCTAssertEqual(m.received(Frame(type: .cancel, callID: 2)), .none, "a finished call has nothing to cancel")
    }

    func testServerGoAwayDrainsThenCloses() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = m.received(settings)
        _ = m.received(call(1))
        _ = m.received(call(2))
        let (goAway, closeNow) = m.goAway(message: "server shutting down")
        XCTAssertEqual(goAway, GoAway(lastCallID: 2, status: .unavailable, message: "server shutting down"))
        XCTAssertFalse(closeNow)
        XCTAssertTrue(m.isGoingAway)
        XCTAssertEqual(m.received(call(3)), .reject(callID: 3, status: .unavailable, message: "server is shutting down"))
        XCTAssertEqual(m.callCompleted(1), .init(sendReply: true, closeAfterFlush: false))
        XCTAssertEqual(m.callCompleted(2), .init(sendReply: true, closeAfterFlush: true))
        XCTAssertNil(m.goAway(message: "again").frame)
    }

    /// Told to go away before the client's SETTINGS: GOAWAY, close once it is out, ignore the rest.
    func testServerGoAwayBeforeSettingsCloses() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        let (goAway, closeNow) = m.goAway(message: "idle timeout")
        XCTAssertEqual(goAway, GoAway(lastCallID: 0, status: .unavailable, message: "idle timeout"))
        XCTAssertTrue(closeNow)
        XCTAssertEqual(m.received(settings), .none, "a late SETTINGS is not a protocol error")
        XCTAssertEqual(m.received(call(1)), .none)
        XCTAssertNil(m.goAway(message: "again").frame)
    }

    func testServerPingAndProtocolErrors() {
        var m = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = m.received(settings)
        XCTAssertEqual(m.received(Frame(type: .ping, payload: [1, 2, 3, 4, 5, 6, 7, 8])), .sendPong)
        guard case .protocolError = m.received(Frame(type: .ping, payload: [1, 2, 3])) else { return XCTFail("short PING accepted") }
        var l = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = l.received(settings)
        guard case .protocolError = l.received(Frame(type: .reply, callID: 1)) else { return XCTFail() }
        var n = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = n.received(settings)
        guard case .protocolError = n.received(settings) else { return XCTFail("second SETTINGS accepted") }
        var o = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = o.received(settings)
        guard case .protocolError = o.received(Frame(type: .call, callID: 1, payload: [0, 9, 0x41])) else { return XCTFail() }
        var p = ServerConnectionStateMachine(maxCallsInFlight: 4)
        _ = p.received(settings)
        XCTAssertEqual(p.received(Frame(type: .error, payload: ErrorPayload(status: .internalError, message: "x").encode())), .close)
        var q = ServerConnectionStateMachine(maxCallsInFlight: 4)
        guard case .protocolError(let v) = q.decodeFailed(ProtocolViolation(.resourceExhausted, "frame too large")) else {
            return XCTFail()
        }
        XCTAssertEqual(v.code, .resourceExhausted)
        XCTAssertTrue(q.isClosed)
    }

    /// The server machine fed in place by the decoder, one byte at a time, as the server feeds it.
    func testServerFedByteByByte() throws {
        var bytes = WireProtocol.preface
        FrameEncoder.append(settings, to: &bytes)
        for id in 1...3 { FrameEncoder.append(call(UInt32(id), message: [UInt8(id)]), to: &bytes) }
        var decoder = FrameDecoder(maxFrameSize: 1024, expectsPreface: true)
        var m = ServerConnectionStateMachine(maxCallsInFlight: 8)
        var started: [UInt32] = []
        for b in bytes {
            try [b].withUnsafeBytes { chunk in
                try decoder.consume(chunk) { frame in
                    if case .startCall(let id, let head, _) = m.received(frame) {
                        XCTAssertEqual(Array(frame.payload[head.messageOffset...]), [UInt8(id)])
                        started.append(id)
                    }
                    return true
                }
            }
        }
        XCTAssertEqual(started, [1, 2, 3])
    }

    // MARK: Client

    private func reply(_ id: UInt32, _ status: StatusCode = .ok, _ message: [UInt8] = []) -> Frame {
        var out: [UInt8] = []
        FrameEncoder.appendReply(callID: id, status: status, statusMessage: status == .ok ? "" : "no", message: message, to: &out)
        return Frame(type: .reply, callID: id, payload: Array(out[WireProtocol.headerSize...]))
    }

    func testClientMatchesRepliesOutOfOrder() {
        var m = ClientConnectionStateMachine<String>()
        XCTAssertEqual(try m.startCall("a", deadline: nil).get(), 1)
        XCTAssertEqual(try m.startCall("b", deadline: nil).get(), 2)
        guard case .none = m.received(settings) else { return XCTFail() }
        guard case .complete("b", let r2) = m.received(reply(2, .ok, [2])) else { return XCTFail() }
        XCTAssertEqual(Array(r2.message), [2])
        guard case .complete("a", let r1) = m.received(reply(1, .notFound)) else { return XCTFail() }
        XCTAssertEqual(r1.head.status, .notFound)
        guard case .none = m.received(reply(1)) else { return XCTFail("a reply for a finished call is ignored") }
        XCTAssertEqual(m.callsInFlight, 0)
    }

    func testClientGoAwayFailsLaterCalls() {
        var m = ClientConnectionStateMachine<String>()
        _ = m.received(settings)
        for name in ["a", "b", "c"] { _ = m.startCall(name, deadline: nil) }
        guard case .fail(let failed, let error) = m.received(Frame(type: .goAway, payload: GoAway(lastCallID: 1).encode())) else {
            return XCTFail()
        }
        XCTAssertEqual(Set(failed), ["b", "c"])
        XCTAssertEqual(error.code, .unavailable)
        XCTAssertFalse(m.acceptsCalls)
        guard case .failure = m.startCall("d", deadline: nil) else { return XCTFail() }
        guard case .complete("a", _) = m.received(reply(1)) else { return XCTFail() }
    }

    func testClientErrorAndCloseFailEverything() {
        var m = ClientConnectionStateMachine<String>()
        _ = m.received(settings)
        _ = m.startCall("a", deadline: nil)
        guard case .close(let failed, let error, nil) = m.received(Frame(type: .error, payload: ErrorPayload(status: .internalError, message: "bad").encode())) else {
            return XCTFail()
        }
        XCTAssertEqual(failed, ["a"])
        XCTAssertEqual(error.code, .unavailable)
        var n = ClientConnectionStateMachine<String>()
        _ = n.startCall("x", deadline: nil)
        XCTAssertEqual(n.connectionClosed(RPCError(.unavailable, "dropped")), ["x"])
        guard case .failure(let e) = n.startCall("y", deadline: nil) else { return XCTFail() }
        XCTAssertEqual(e.message, "dropped")
    }

    func testClientExpiresDeadlines() {
        var m = ClientConnectionStateMachine<String>()
        let now = ContinuousClock.now
        _ = m.startCall("soon", deadline: now + .milliseconds(10))
        _ = m.startCall("later", deadline: now + .seconds(10))
        _ = m.startCall("never", deadline: nil)
        XCTAssertEqual(m.earliestDeadline, now + .milliseconds(10))
        XCTAssertEqual(m.expireCalls(now: now + .milliseconds(20)).map(\.1), ["soon"])
        XCTAssertEqual(m.callsInFlight, 2)
        XCTAssertNotNil(m.cancelCall(3))
        XCTAssertNil(m.cancelCall(1))
    }

    func testClientRequiresSettingsFirst() {
        var m = ClientConnectionStateMachine<String>()
        _ = m.startCall("a", deadline: nil)
        guard case .close(["a"], _, let violation?) = m.received(reply(1)) else { return XCTFail() }
        XCTAssertEqual(violation.code, .internalError)
    }

    // MARK: Compression

    func testCompressionRoundTripAndBound() throws {
        let data = Array(String(repeating: "validate me ", count: 1000).utf8)
        let packed = MessageCompression.deflate(data)
        XCTAssertLessThan(packed.count, data.count / 10)
        XCTAssertEqual(try MessageCompression.inflate(packed, limit: data.count), data)
        XCTAssertThrowsError(try MessageCompression.inflate(packed, limit: data.count - 1)) { error in
            XCTAssertEqual((error as? RPCError)?.code, .resourceExhausted)
        }
        XCTAssertThrowsError(try MessageCompression.inflate([1, 2, 3, 4], limit: 100)) { error in
            XCTAssertEqual((error as? RPCError)?.code, .internalError)
        }
        XCTAssertThrowsError(try MessageCompression.inflate(Array(packed.prefix(packed.count / 2)), limit: 1 << 20))
        // A bomb: 4 MiB of zeros is a few KiB compressed; the bound stops it early.
        let bomb = MessageCompression.deflate([UInt8](repeating: 0, count: 4 << 20))
        XCTAssertThrowsError(try MessageCompression.inflate(bomb, limit: 1 << 16))
    }
}
