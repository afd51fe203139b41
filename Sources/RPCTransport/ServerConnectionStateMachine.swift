import RPCCore

/// The server's view of one connection and of each call on it, as a value type: it is given
/// frames and events and answers with what to do. No I/O; the event loop performs the actions.
///
/// Connection: awaiting SETTINGS → active → (GOAWAY sent) going away → closed.
/// Call: started → completed (reply sent) | cancelled (reply dropped).
struct ServerConnectionStateMachine {
    /// What to do with a received frame.
    enum FrameAction: Equatable {
        case none
        /// Run the method; `message` is as received (compressed when `compressed`).
        case startCall(callID: UInt32, head: CallHead, message: ArraySlice<UInt8>, compressed: Bool)
        /// Answer the call at once with this status, without running anything.
        case reject(callID: UInt32, status: StatusCode, message: String)
        case sendPong([UInt8])
        /// Send an ERROR frame with this status and message, then close.
        case protocolError(ProtocolViolation)
        /// Close now (the peer sent ERROR).
        case close
    }

    /// What to do with a received `FrameView` (the server's path): like `FrameAction`, but a call's
    /// head is a checked view into the frame's payload, and a PONG echoes the PING's payload.
    enum ViewAction: Equatable {
        case none
        case startCall(callID: UInt32, head: CallHeadView, compressed: Bool)
        case reject(callID: UInt32, status: StatusCode, message: String)
        case sendPong
        case protocolError(ProtocolViolation)
        case close
    }

    /// What to do with a finished call's reply.
    struct CompletionAction: Equatable {
        /// Send the reply (false when the caller cancelled it).
        var sendReply: Bool
        /// Close once the output is flushed (the last call of a connection going away).
        var closeAfterFlush: Bool
    }

    private enum Phase { case awaitingSettings, active, closed }
    /// A call in flight. Kept in a small array, not a dictionary: there are at most
    /// `maxCallsInFlight` of them, and an inline call is appended and removed from the end.
    private struct CallState {
        var id: UInt32
        var cancelled = false
    }

    private var phase = Phase.awaitingSettings
    private var goingAway = false
    private var calls: [CallState] = []
    private var highestCallID: UInt32 = 0
    let maxCallsInFlight: Int
    /// Whether the client can inflate zlib replies (from its SETTINGS).
    private(set) var peerAcceptsCompression = false
    /// Largest frame payload the client accepts (from its SETTINGS).
    private(set) var peerMaxFrameSize: UInt32 = 4 << 20

    init(maxCallsInFlight: Int) {
        self.maxCallsInFlight = maxCallsInFlight
    }

    var callsInFlight: Int { calls.count }
    var isGoingAway: Bool { goingAway }
    var isClosed: Bool { phase == .closed }

    mutating func received(_ frame: Frame) -> FrameAction {
        frame.payload.withUnsafeBytes { payload in
            switch received(FrameView(type: frame.type, flags: frame.flags, callID: frame.callID, payload: payload)) {
            case .none: .none
            case .startCall(let callID, let head, let compressed):
                .startCall(callID: callID, head: head.head(in: payload), message: frame.payload[head.messageOffset...],
                           compressed: compressed)
            case .reject(let callID, let status, let message): .reject(callID: callID, status: status, message: message)
            case .sendPong: .sendPong(frame.payload)
            case .protocolError(let violation): .protocolError(violation)
            case .close: .close
            }
        }
    }

    /// The same as `received(_: Frame)`, without copying: the action refers to the view's payload.
    mutating func received(_ frame: FrameView) -> ViewAction {
        switch phase {
        case .closed:
            return .none
        case .awaitingSettings:
            guard frame.type == .settings else {
                return fail(ProtocolViolation(.internalError, "the first frame must be SETTINGS"))
            }
            do {
                let settings = try ConnectionSettings.decode(Array(frame.payload))
                peerAcceptsCompression = settings.compression & ConnectionSettings.zlib != 0
                peerMaxFrameSize = settings.maxFrameSize
                phase = .active
                return .none
            } catch {
                return fail(error)
            }
        case .active:
            break
        }
        switch frame.type {
        case .settings:
            return fail(ProtocolViolation(.internalError, "SETTINGS sent twice"))
        case .call:
            guard frame.callID != 0 else { return fail(ProtocolViolation(.internalError, "CALL with call id 0")) }
            guard frame.callID > highestCallID else {
                return fail(ProtocolViolation(.internalError, "call id \(frame.callID) not above \(highestCallID)"))
            }
            highestCallID = frame.callID
            let head: CallHeadView
            do {
                head = try CallHeadView.parse(frame.payload)
            } catch {
                return fail(error)
            }
            if goingAway {
                return .reject(callID: frame.callID, status: .unavailable, message: "server is shutting down")
            }
            guard calls.count < maxCallsInFlight else {
                return .reject(callID: frame.callID, status: .resourceExhausted,
                               message: "too many calls in flight on this connection (limit \(maxCallsInFlight))")
            }
            calls.append(CallState(id: frame.callID))
            return .startCall(callID: frame.callID, head: head, compressed: frame.flags.contains(.compressed))
        case .cancel:
            if let i = index(of: frame.callID) { calls[i].cancelled = true }
            return .none
        case .ping:
            guard frame.payload.count == 8 else { return fail(ProtocolViolation(.internalError, "PING payload must be 8 bytes")) }
            return .sendPong
        case .pong, .goAway:
            return .none
        case .error:
            phase = .closed
            return .close
        case .reply:
            return fail(ProtocolViolation(.internalError, "a client must not send REPLY"))
        }
    }

    /// Where the call is in `calls`, searching from the end (the latest call is the likeliest).
    private func index(of callID: UInt32) -> Int? {
        var i = calls.count - 1
        while i >= 0 {
            if calls[i].id == callID { return i }
            i -= 1
        }
        return nil
    }

    /// A decoding failure of the byte stream.
    mutating func decodeFailed(_ violation: ProtocolViolation) -> FrameAction {
        fail(violation)
    }

    /// A started call finished (its handler returned, threw, or was skipped).
    mutating func callCompleted(_ callID: UInt32) -> CompletionAction {
        guard let i = index(of: callID) else {
            return CompletionAction(sendReply: false, closeAfterFlush: false)
        }
        let state = calls[i]
        if i != calls.count - 1 { calls.swapAt(i, calls.count - 1) }
        calls.removeLast()
        return CompletionAction(sendReply: !state.cancelled, closeAfterFlush: goingAway && calls.isEmpty)
    }

    /// Whether the call was cancelled by the client (its work can be skipped).
    func isCancelled(_ callID: UInt32) -> Bool { index(of: callID).map { calls[$0].cancelled } ?? true }

    /// Graceful shutdown or idle timeout: the GOAWAY to send (nil if already sent) and whether to close at once.
    mutating func goAway(message: String) -> (frame: GoAway?, closeAfterFlush: Bool) {
        guard phase != .closed else { return (nil, false) }
        if goingAway { return (nil, calls.isEmpty) }
        goingAway = true
        return (GoAway(lastCallID: highestCallID, status: .unavailable, message: message), calls.isEmpty)
    }

    mutating func closed() {
        phase = .closed
    }

    private mutating func fail(_ violation: ProtocolViolation) -> FrameAction {
        phase = .closed
        return .protocolError(violation)
    }

    private mutating func fail(_ violation: ProtocolViolation) -> ViewAction {
        phase = .closed
        return .protocolError(violation)
    }
}
