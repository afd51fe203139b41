import RPCCore
import RPCDispatch

/// The server's view of one connection and of each call on it, as a value type: it is given
/// frames and events and answers with what to do. No I/O; the event loop performs the actions.
///
/// Connection: awaiting SETTINGS → active → (GOAWAY sent) going away → closed.
/// Call: started → (blocking: queued, cancellable) → completed (reply sent) | cancelled (reply dropped).
/// Blocking calls queued or running are counted: past `maxBlockingCalls` the next one is refused.
struct ServerConnectionStateMachine {
    /// What to do with a received frame. A call's head is a checked view into the frame's payload
    /// (the action is valid while the payload is).
    enum ViewAction: Equatable {
        case none
        /// Run the method; its message is the payload from `head.messageOffset` (compressed when `compressed`).
        case startCall(callID: UInt32, head: CallHeadView, compressed: Bool)
        /// Answer the call at once with this status, without running anything.
        case reject(callID: UInt32, status: StatusCode, message: String)
        /// Send a PONG echoing the PING's payload.
        case sendPong
        /// The client cancelled a call waiting for a worker: raise its flag so the worker skips it.
        case cancelQueued(CallCancellation)
        /// Send an ERROR frame with this status and message, then close.
        case protocolError(ProtocolViolation)
        /// Close now (the peer sent ERROR).
        case close
    }

    /// What to do with a finished call's reply.
    struct CompletionAction: Equatable {
        /// Send the reply (false when the caller cancelled it).
        var sendReply: Bool
        /// Close once the output is flushed (the last call of a connection going away).
        var closeAfterFlush: Bool
    }

    /// Where the connection is. GOAWAY sent is a phase of its own: it can only follow SETTINGS.
    private enum Phase { case awaitingSettings, active, goingAway, closed }
    /// A call in flight. Kept in a small array, not a dictionary: there are at most
    /// `maxCallsInFlight` of them, and an inline call is appended and removed from the end.
    private struct CallState {
        var id: UInt32
        var cancelled = false
        /// Set while a blocking call waits for (or runs on) a worker.
        var queued: CallCancellation?
    }

    private var phase = Phase.awaitingSettings
    private var calls: [CallState] = []
    private var highestCallID: UInt32 = 0
    let maxCallsInFlight: Int
    /// Counts the calls in `calls` that were queued for a worker (waiting or running).
    private var blocking: BlockingCallLimit
    /// Whether the client can inflate zlib replies (from its SETTINGS).
    private(set) var peerAcceptsCompression = false
    /// Largest frame payload the client accepts (from its SETTINGS).
    private(set) var peerMaxFrameSize: UInt32 = 4 << 20

    init(maxCallsInFlight: Int, maxBlockingCalls: Int = .max) {
        self.maxCallsInFlight = maxCallsInFlight
        blocking = BlockingCallLimit(limit: maxBlockingCalls)
    }

    /// Calls in flight that were queued for a worker (waiting or running).
    var blockingCalls: Int { blocking.count }

    /// Whether another blocking call would pass `maxBlockingCalls`; the refusal to send if so.
    var blockingCallRefusal: (status: StatusCode, message: String)? { blocking.refusal }

    var callsInFlight: Int { calls.count }
    var isGoingAway: Bool { phase == .goingAway }
    var isClosed: Bool { phase == .closed }
    /// Whether the client's SETTINGS (which end its handshake) has not come yet.
    var isAwaitingSettings: Bool { phase == .awaitingSettings }

    /// The action for a received frame, without copying: the action refers to the view's payload.
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
        case .active, .goingAway:
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
            if phase == .goingAway {
                return .reject(callID: frame.callID, status: .unavailable, message: "server is shutting down")
            }
            guard calls.count < maxCallsInFlight else {
                return .reject(callID: frame.callID, status: .resourceExhausted,
                               message: "too many calls in flight on this connection (limit \(maxCallsInFlight))")
            }
            calls.append(CallState(id: frame.callID))
            return .startCall(callID: frame.callID, head: head, compressed: frame.flags.contains(.compressed))
        case .cancel:
            guard let i = index(of: frame.callID) else { return .none }
            calls[i].cancelled = true
            return calls[i].queued.map { .cancelQueued($0) } ?? .none
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
    mutating func decodeFailed(_ violation: ProtocolViolation) -> ViewAction {
        fail(violation)
    }

    /// A started blocking call was queued with `cancellation`: a later CANCEL raises it.
    mutating func queued(_ callID: UInt32, cancellation: CallCancellation) {
        guard let i = index(of: callID), calls[i].queued == nil else { return }
        calls[i].queued = cancellation
        blocking.started()
    }

    /// A started call finished (its handler returned, threw, or was skipped).
    mutating func callCompleted(_ callID: UInt32) -> CompletionAction {
        guard let i = index(of: callID) else {
            return CompletionAction(sendReply: false, closeAfterFlush: false)
        }
        let state = calls[i]
        if i != calls.count - 1 { calls.swapAt(i, calls.count - 1) }
        calls.removeLast()
        if state.queued != nil { blocking.ended() }
        return CompletionAction(sendReply: !state.cancelled, closeAfterFlush: phase == .goingAway && calls.isEmpty)
    }

    /// Whether the call was cancelled by the client (its work can be skipped).
    func isCancelled(_ callID: UInt32) -> Bool { index(of: callID).map { calls[$0].cancelled } ?? true }

    /// Graceful shutdown or idle timeout: the GOAWAY to send (nil if already sent) and whether to close at once.
    mutating func goAway(message: String) -> (frame: GoAway?, closeAfterFlush: Bool) {
        switch phase {
        case .closed: return (nil, false)
        case .goingAway: return (nil, calls.isEmpty)
        case .active: phase = .goingAway
        case .awaitingSettings:
            // No call can have started: nothing to drain, and nothing the peer sends now matters.
            phase = .closed
            return (GoAway(lastCallID: highestCallID, status: .unavailable, message: message), true)
        }
        return (GoAway(lastCallID: highestCallID, status: .unavailable, message: message), calls.isEmpty)
    }

    mutating func closed() {
        phase = .closed
    }

    private mutating func fail(_ violation: ProtocolViolation) -> ViewAction {
        phase = .closed
        return .protocolError(violation)
    }
}
