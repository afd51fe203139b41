import Dispatch
import RPCCore
import Support

/// The client side of an `InProcessServer`: a `ClientTransport` with no bytes on a wire. The
/// request and reply bytes are exactly what a network transport would carry, so a generated
/// client behaves as it does over TLS.
public struct InProcessTransport: ClientTransport {
    let server: InProcessServer
    /// Applies when a call sets no timeout; nil: wait as long as the handler takes.
    public let defaultTimeout: Duration?

    public func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) throws -> [UInt8] {
        let call = try server.admit(method, options: options, defaultTimeout: defaultTimeout)
        let outcome = CallOutcome()
        let cancellation = CallCancellation()
        if let reply = start(call, request: request, cancellation: cancellation, outcome: outcome) {
            return try reply.get()
        }
        let result = outcome.wait(until: call.context.deadline)
        if case .failure(let error) = result, error.code == .deadlineExceeded {
            cancellation.cancel()  // still queued: skip it
        }
        return try result.get()
    }

    public func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8] {
        let call = try server.admit(method, options: options, defaultTimeout: defaultTimeout)
        let outcome = CallOutcome()
        let cancellation = CallCancellation()
        if let reply = start(call, request: request, cancellation: cancellation, outcome: outcome) {
            return try reply.get()
        }
        let timer = call.context.deadline.map { deadline in
            Task {
                try await Task.sleep(until: deadline, clock: .continuous)
                cancellation.cancel()
                outcome.resolve(.error(RPCError(.deadlineExceeded, "deadline exceeded")))
            }
        }
        defer { timer?.cancel() }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            cancellation.cancel()
            outcome.resolve(.error(RPCError(.cancelled, "call cancelled")))
        }
    }

    /// Hands the call to the dispatcher: the reply when it is known now (inline, overload), or
    /// nil when it was queued and `outcome` will receive it.
    private func start(_ call: InProcessServer.Admitted, request: [UInt8], cancellation: CallCancellation,
                       outcome: CallOutcome) -> CallReply? {
        let server = self.server
        let started = server.dispatcher.start(call.method, request: request, context: call.context) {
            BlockingCompletion(cancellation: cancellation) { reply in
                outcome.resolve(.reply(reply))
                server.finished()
            }
        }
        switch started {
        case .replied(let reply):
            server.finished()
            return reply
        case .overloaded(let reply):
            server.finished(overloaded: true)
            return reply
        case .queued:
            return nil
        }
    }
}

/// One queued call's result, set once by whichever comes first (the reply, a timeout, a
/// cancellation) and handed to a blocked thread or a suspended task.
final class CallOutcome: Sendable {
    enum Result: Sendable {
        case reply(CallReply)
        case error(RPCError)
    }
    private struct State {
        var result: Result?
        var continuation: CheckedContinuation<[UInt8], any Error>?
    }
    private let state = Locked(State())
    private let ready = DispatchSemaphore(value: 0)

    /// Records the result unless one is already there, and wakes the waiter.
    func resolve(_ result: Result) {
        let continuation = state.withLock { s -> CheckedContinuation<[UInt8], any Error>?? in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.continuation = nil }
            return .some(s.continuation)
        }
        guard let continuation else { return }
        ready.signal()
        continuation?.resume(with: Self.bytes(result))
    }

    /// Blocks until the result or `deadline` (DEADLINE_EXCEEDED).
    func wait(until deadline: ContinuousClock.Instant?) -> Swift.Result<[UInt8], RPCError> {
        if let deadline {
            let left = ContinuousClock.now.duration(to: deadline)
            let nanos = max(0, left.components.seconds) * 1_000_000_000 + max(0, left.components.attoseconds / 1_000_000_000)
            if ready.wait(timeout: .now() + .nanoseconds(Int(nanos))) == .timedOut {
                resolve(.error(RPCError(.deadlineExceeded, "deadline exceeded")))
            }
        } else {
            ready.wait()
        }
        return Self.bytes(state.withLock { $0.result }!)
    }

    /// Suspends until the result.
    func value() async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { s -> Result? in
                if s.result == nil { s.continuation = continuation }
                return s.result
            }
            if let result { continuation.resume(with: Self.bytes(result)) }
        }
    }

    private static func bytes(_ result: Result) -> Swift.Result<[UInt8], RPCError> {
        switch result {
        case .reply(let reply): Swift.Result { () throws(RPCError) in try reply.get() }
        case .error(let error): .failure(error)
        }
    }
}
