import Dispatch
import Glibc
import Logging
import RPCCore
import Support

/// A server without sockets: calls made through its `transport` (a `ClientTransport`, so any
/// generated client can use it) go straight to a `Dispatcher`, under the same contract as over
/// the wire: inline handlers run on the caller's thread, blocking ones on the worker pool,
/// deadlines give DEADLINE_EXCEEDED, a full pool RESOURCE_EXHAUSTED, an unknown method
/// UNIMPLEMENTED; a cancelled task's queued call is skipped; after `shutdown` new calls get
/// UNAVAILABLE. Handlers see the caller's metadata and the peer `"in-process"`.
///
/// ```swift
/// let server = InProcessServer(services: [AuthServiceHandler.service(core: core, logger: logger)], logger: logger)
/// try server.start()
/// let client = Auth.Client(transport: server.transport())
/// ```
public final class InProcessServer: ServerTransport {
    /// The peer handlers see in their `ServerContext`.
    public static let peer = "in-process"

    public let dispatcher: Dispatcher

    private enum Phase { case idle, running, draining, stopped }
    private struct State {
        var phase = Phase.idle
        var callsInFlight = 0
        var statistics = InProcessStatistics()
    }
    private let state = Locked(State())
    private let stopped = DispatchGroup()

    /// Serves `services` with `workerThreads` threads for blocking handlers, room for
    /// `workerQueueCapacity` calls waiting for one and for `maxQueuedRequestBytes` of their requests.
    public init(services: [any RPCServiceProvider], workerThreads: Int = 4, workerQueueCapacity: Int = 1_024,
                maxQueuedRequestBytes: Int = 16 << 20, logger: Logger) {
        dispatcher = Dispatcher(services: services, workerThreads: workerThreads, workerQueueCapacity: workerQueueCapacity,
                                maxQueuedRequestBytes: maxQueuedRequestBytes, logger: logger)
    }

    public func start() throws {
        try state.withLock { s throws(RPCError) in
            guard s.phase == .idle else { throw RPCError(.failedPrecondition, "server already started") }
            s.phase = .running
            stopped.enter()
        }
    }

    /// Always 0: there is no socket.
    public var port: Int { 0 }

    public var statistics: InProcessStatistics { state.withLock { $0.statistics } }

    /// A client transport calling this server; `defaultTimeout` applies when a call sets none.
    public func transport(defaultTimeout: Duration? = nil) -> InProcessTransport {
        InProcessTransport(server: self, defaultTimeout: defaultTimeout)
    }

    public func shutdown(grace: Duration = .seconds(5)) {
        let wasRunning = state.withLock { s -> Bool? in
            switch s.phase {
            case .idle: s.phase = .stopped; return false
            case .running: s.phase = .draining; return true
            case .draining, .stopped: return nil
            }
        }
        guard let wasRunning else {
            waitUntilStopped()
            return
        }
        let deadline = ContinuousClock.now + grace
        while wasRunning && state.withLock({ $0.callsInFlight }) > 0 && ContinuousClock.now < deadline {
            usleep(1_000)
        }
        dispatcher.shutdown()
        state.withLock { $0.phase = .stopped }
        if wasRunning { stopped.leave() }
    }

    public func waitUntilStopped() {
        stopped.wait()
    }

    // MARK: - Calls

    /// A call admitted: its method, context and cancellation flag.
    struct Admitted {
        var method: MethodTable.Entry
        var context: ServerContext
    }

    /// Counts the call in flight, or refuses it (not running, unknown method).
    func admit(_ method: MethodDescriptor, options: CallOptions, defaultTimeout: Duration?) throws(RPCError) -> Admitted {
        let name = method.fullName
        try state.withLock { s throws(RPCError) in
            switch s.phase {
            case .running: break
            case .idle: throw RPCError(.unavailable, "server not started")
            case .draining, .stopped: throw RPCError(.unavailable, "server is shutting down")
            }
            s.callsInFlight += 1
            s.statistics.callsStarted += 1
        }
        guard let entry = dispatcher.methods.lookup(name) else {
            finished()
            throw RPCError(.unimplemented, "unknown method \(name)")
        }
        let timeout = options.timeout ?? defaultTimeout
        let context = ServerContext(metadata: options.metadata, deadline: timeout.map { .now + $0 }, peer: Self.peer,
                                    wireProtocol: .inProcess)
        return Admitted(method: entry, context: context)
    }

    /// A call left the server (answered, refused or skipped).
    func finished(overloaded: Bool = false) {
        state.withLock { s in
            s.callsInFlight -= 1
            if overloaded { s.statistics.callsRejectedOverload += 1 }
        }
    }
}

/// What an in-process server counted since it was made.
public struct InProcessStatistics: Sendable, Equatable {
    /// Calls admitted (known or unknown method), before dispatch.
    public var callsStarted = 0
    /// Blocking calls refused because the worker pool's queue was full.
    public var callsRejectedOverload = 0
}
