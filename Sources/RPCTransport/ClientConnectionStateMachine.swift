import RPCCore

/// The client's view of one connection and its calls, as a value type generic over how a caller
/// waits (`Waiter`). Given frames and events, it answers with the waiters to resume and what to send.
struct ClientConnectionStateMachine<Waiter> {
    /// The reply of a call, before decompression.
    struct Reply {
        var head: ReplyHead
        var message: [UInt8]
        var compressed: Bool
    }

    enum FrameAction {
        case none
        case complete(Waiter, Reply)
        case sendPong([UInt8])
        /// Fail these calls (GOAWAY beyond its last id); the connection stays for the others.
        case fail([Waiter], RPCError)
        /// The connection is over: fail every call, send ERROR if `violation` is set, close.
        case close([Waiter], RPCError, violation: ProtocolViolation?)
    }

    private struct Call {
        var waiter: Waiter
        var deadline: ContinuousClock.Instant?
    }

    private var calls: [UInt32: Call] = [:]
    /// No call in flight expires before this (nil: none has a deadline). Lowered as calls start,
    /// recomputed only when `expireCalls` scans, so finished calls cost nothing here.
    private var deadlineBound: ContinuousClock.Instant?
    private var nextCallID: UInt32 = 1
    private var receivedSettings = false
    private(set) var goingAway = false
    private(set) var closedError: RPCError?
    /// Whether the server can inflate zlib requests (known once its SETTINGS arrived).
    private(set) var peerAcceptsCompression = false
    private(set) var peerMaxCallsInFlight: UInt32 = 0
    /// Largest frame the server accepts (the protocol default until its SETTINGS arrive).
    private(set) var peerMaxFrameSize: UInt32 = 4 << 20

    init() {}

    var callsInFlight: Int { calls.count }
    /// Whether new calls may start here (false after GOAWAY, ERROR or close).
    var acceptsCalls: Bool { !goingAway && closedError == nil && nextCallID < UInt32.max }
    /// When to check deadlines next: no call in flight expires earlier (it may be a call that has
    /// since finished; `expireCalls` at that time finds nothing and moves it on). O(1).
    var earliestDeadline: ContinuousClock.Instant? { deadlineBound }

    /// Registers a call; returns its id, or the error to fail it with.
    mutating func startCall(_ waiter: Waiter, deadline: ContinuousClock.Instant?) -> Result<UInt32, RPCError> {
        if let closedError { return .failure(closedError) }
        guard acceptsCalls else { return .failure(RPCError(.unavailable, "connection is going away")) }
        let id = nextCallID
        nextCallID += 1
        calls[id] = Call(waiter: waiter, deadline: deadline)
        if let deadline, deadlineBound.map({ deadline < $0 }) ?? true { deadlineBound = deadline }
        return .success(id)
    }

    /// Removes a call the caller gave up on (deadline, cancellation); nil if it already finished.
    mutating func cancelCall(_ id: UInt32) -> Waiter? {
        calls.removeValue(forKey: id)?.waiter
    }

    /// Calls whose deadline passed by `now`, removed. Scans the calls only once `earliestDeadline` has come.
    mutating func expireCalls(now: ContinuousClock.Instant) -> [(UInt32, Waiter)] {
        guard let bound = deadlineBound, bound <= now else { return [] }
        var expired: [(UInt32, Waiter)] = []
        var next: ContinuousClock.Instant?
        for (id, call) in calls {
            guard let d = call.deadline else { continue }
            if d <= now {
                expired.append((id, call.waiter))
            } else if next.map({ d < $0 }) ?? true {
                next = d
            }
        }
        for (id, _) in expired { calls.removeValue(forKey: id) }
        deadlineBound = next
        return expired
    }

    /// Applies a frame from the server. `frame` is consumed: a reply's message reuses its payload's storage.
    mutating func received(_ frame: consuming Frame) -> FrameAction {
        guard closedError == nil else { return .none }
        if !receivedSettings {
            guard frame.type == .settings else {
                if frame.type == .error { return closeWithPeerError(frame) }
                return close(ProtocolViolation(.internalError, "the first frame must be SETTINGS"))
            }
            do {
                let settings = try ConnectionSettings.decode(frame.payload)
                peerAcceptsCompression = settings.compression & ConnectionSettings.zlib != 0
                peerMaxCallsInFlight = settings.maxCallsInFlight
                peerMaxFrameSize = settings.maxFrameSize
                receivedSettings = true
                return .none
            } catch {
                return close(error)
            }
        }
        switch frame.type {
        case .reply:
            guard let call = calls.removeValue(forKey: frame.callID) else { return .none }  // cancelled earlier
            do {
                let (head, offset) = try ReplyHead.decode(frame.payload)
                var message = frame.payload
                frame.payload = []
                message.removeSubrange(0..<offset)  // in place when the payload is not shared: no copy
                return .complete(call.waiter, Reply(head: head, message: message,
                                                    compressed: frame.flags.contains(.compressed)))
            } catch {
                calls[frame.callID] = call
                return close(error)
            }
        case .ping:
            guard frame.payload.count == 8 else { return close(ProtocolViolation(.internalError, "PING payload is not 8 bytes")) }
            return .sendPong(frame.payload)
        case .pong:
            return .none
        case .goAway:
            do {
                let goAway = try GoAway.decode(frame.payload)
                goingAway = true
                let refused = calls.keys.filter { $0 > goAway.lastCallID }
                let waiters = refused.compactMap { calls.removeValue(forKey: $0)?.waiter }
                return .fail(waiters, RPCError(.unavailable, "server going away: \(goAway.message)", cause: CallNotProcessed()))
            } catch {
                return close(error)
            }
        case .error:
            return closeWithPeerError(frame)
        case .settings:
            return close(ProtocolViolation(.internalError, "SETTINGS sent twice"))
        case .call, .cancel:
            return close(ProtocolViolation(.internalError, "a server must not send \(frame.type)"))
        }
    }

    /// The connection ended (EOF, I/O error, decode failure): every call fails with `error`.
    mutating func connectionClosed(_ error: RPCError) -> [Waiter] {
        if closedError == nil { closedError = error }
        let waiters = calls.values.map(\.waiter)
        calls.removeAll()
        deadlineBound = nil
        return waiters
    }

    private mutating func closeWithPeerError(_ frame: Frame) -> FrameAction {
        let payload = try? ErrorPayload.decode(frame.payload)
        let error = RPCError.connectionFailure("server closed the connection: \(payload?.status.name ?? "ERROR") \(payload?.message ?? "")")
        return .close(connectionClosed(error), error, violation: nil)
    }

    private mutating func close(_ violation: ProtocolViolation) -> FrameAction {
        let error = RPCError.connectionFailure("protocol error from server: \(violation.message)")
        return .close(connectionClosed(error), error, violation: violation)
    }
}
