import Logging
import RPCCore
import Support
import Synchronization

/// The dispatch contract every wire protocol shares: the method table, where a handler runs
/// (`HandlerKind`: inline on the caller's thread, blocking on the bounded worker pool), deadlines
/// checked before and after a blocking call, cancellation of queued calls, overload
/// (RESOURCE_EXHAUSTED at once when the pool's queue is full, or when the request bytes queued
/// calls hold would pass their budget), and the one status mapping (an
/// `RPCError` is sent as it is; anything else is INTERNAL "internal error", logged here in full).
///
/// A transport decodes a call, looks its method up, builds the `ServerContext` and calls `start`;
/// it owns only its wire format. Several transports (authrpc/1, gRPC over HTTP/2, in-process)
/// may share one dispatcher, and with it the limits and the worker pool.
///
/// ```swift
/// let dispatcher = Dispatcher(services: [MyService()], workerThreads: 4, logger: logger)
/// guard let method = dispatcher.methods.lookup("pkg.Svc/Get") else { … UNIMPLEMENTED … }
/// switch dispatcher.start(method, request: bytes, context: context, ifBlocking: {
///     BlockingCompletion(cancellation: token) { reply in send(reply) }
/// }) {
/// case .replied(let reply), .overloaded(let reply): send(reply)
/// case .queued: break   // the completion sends it
/// }
/// ```
public final class Dispatcher: Sendable {
    /// The methods served, by name and by name bytes.
    public let methods: MethodTable
    /// Unexpected handler errors are logged here.
    public let logger: Logger
    package let pool: WorkerPool
    /// The most request bytes blocking calls waiting for a worker may hold, all together.
    public let maxQueuedRequestBytes: Int
    private let queuedBytes = Atomic<Int>(0)
    /// Calls counted by protocol, method and code, with durations; nil unless `countCalls`.
    public let callMetrics: CallMetrics?
    /// Where a line per call goes (`AccessLog`); nil: no access log, and no cost for it.
    public let accessLog: Logger?

    /// The methods of `services` (a full name served twice stops the program), `workerThreads`
    /// threads for blocking handlers, room for `workerQueueCapacity` calls waiting for one and for
    /// `maxQueuedRequestBytes` bytes of their requests.
    public init(services: [any RPCServiceProvider], workerThreads: Int = 4, workerQueueCapacity: Int = 1_024,
                maxQueuedRequestBytes: Int = 16 << 20, countCalls: Bool = false, accessLog: Logger? = nil, logger: Logger) {
        self.accessLog = accessLog
        methods = MethodTable(services: services)
        callMetrics = countCalls ? CallMetrics(methods: methods) : nil
        self.logger = logger
        self.maxQueuedRequestBytes = maxQueuedRequestBytes
        pool = WorkerPool(threadCount: workerThreads, capacity: workerQueueCapacity)
    }

    /// Starts a call of `method`. An inline method runs now, on this thread, and its reply is
    /// returned (`makeCompletion` is not called: nothing is allocated for the call). A blocking
    /// method is queued for a worker with the completion `makeCompletion` returns, which is then
    /// called exactly once from another thread; or refused at once when the queue is full or its
    /// `heldBytes` (what the call holds while it waits: its request and head; by default the
    /// request's size) would take the bytes held by queued calls past `maxQueuedRequestBytes`.
    public func start(_ method: MethodTable.Entry, request: [UInt8], context: ServerContext, heldBytes: Int? = nil,
                      ifBlocking makeCompletion: () -> BlockingCompletion) -> DispatchStart {
        guard let accessLog else {
            return startCounted(method, request: request, context: context, heldBytes: heldBytes, ifBlocking: makeCompletion)
        }
        var context = context
        let note = CallNote()
        context.note = note
        let line = AccessLog(logger: accessLog, method: method.method.descriptor.fullName, context: context)
        let began = MonotonicClock.nanoseconds()
        let started = startCounted(method, request: request, context: context, heldBytes: heldBytes) {
            var completion = makeCompletion()
            let send = completion.onComplete
            completion.onComplete = { reply in
                line.write(reply.code, began: began, subject: note.subject)
                send(reply)
            }
            return completion
        }
        switch started {
        case .replied(let reply), .overloaded(let reply):
            line.write(reply.code, began: began, subject: note.subject)
        case .queued:
            break
        }
        return started
    }

    /// `start` without the access log: the call counted (when metrics are on) and run or queued.
    private func startCounted(_ method: MethodTable.Entry, request: [UInt8], context: ServerContext, heldBytes: Int?,
                              ifBlocking makeCompletion: () -> BlockingCompletion) -> DispatchStart {
        let served = method.method
        switch served.kind {
        case .inline:
            guard let metrics = callMetrics else { return .replied(run(served, request, context)) }
            // The clock is read only for a sampled call (0: not sampled).
            let started = metrics.shouldSampleInline() ? MonotonicClock.nanoseconds() : 0
            let reply = run(served, request, context)
            metrics.count(method: method.index, protocol: context.wireProtocol, code: reply.code)
            if started != 0 {
                metrics.observe(method: method.index, nanoseconds: Int(MonotonicClock.nanoseconds() - started),
                                weight: CallMetrics.inlineSampling)
            }
            return .replied(reply)
        case .blocking:
            let held = heldBytes ?? request.count
            if queuedBytes.add(held, ordering: .relaxed).newValue > maxQueuedRequestBytes {
                queuedBytes.subtract(held, ordering: .relaxed)
                callMetrics?.count(method: method.index, protocol: context.wireProtocol, code: .resourceExhausted)
                return .overloaded(.failure(.resourceExhausted, "server overloaded (too many request bytes queued), try again later"))
            }
            var counted = makeCompletion()
            if let metrics = callMetrics {
                let started = MonotonicClock.nanoseconds(), index = method.index, wire = context.wireProtocol
                let send = counted.onComplete
                counted.onComplete = { reply in
                    metrics.count(method: index, protocol: wire, code: reply.code)
                    metrics.observe(method: index, nanoseconds: Int(MonotonicClock.nanoseconds() - started))
                    send(reply)
                }
            }
            let completion = counted
            let accepted = pool.submit { [self] disposition in
                // Taken by a worker or dropped: the call no longer waits, its bytes leave the budget.
                queuedBytes.subtract(held, ordering: .relaxed)
                completion.onComplete(runQueued(served, request, context, completion, disposition))
            }
            if accepted { return .queued }
            queuedBytes.subtract(held, ordering: .relaxed)
            callMetrics?.count(method: method.index, protocol: context.wireProtocol, code: .resourceExhausted)
            return .overloaded(.failure(.resourceExhausted, "server overloaded, try again later"))
        }
    }

    /// Runs a handler and turns its outcome into a reply: the status mapping every transport uses.
    public func run(_ method: ServerMethod, _ request: [UInt8], _ context: ServerContext) -> CallReply {
        do {
            return .success(try method.handler(request, context))
        } catch let error as RPCError {
            return .failure(error.code, error.message)
        } catch {
            var metadata: Logger.Metadata = ["method": "\(method.descriptor.fullName)", "error": "\(error)"]
            if let traceparent = context.metadata.traceparent { metadata["traceparent"] = "\(traceparent)" }
            logger.error("handler failed", metadata: metadata)
            return .failure(.internalError, "internal error")
        }
    }

    /// A queued call as a worker takes it: skipped when dropped, cancelled or past its deadline;
    /// its request decoded (`BlockingCompletion.decodeRequest`) only then, on the worker.
    private func runQueued(_ method: ServerMethod, _ request: [UInt8], _ context: ServerContext,
                           _ completion: BlockingCompletion, _ disposition: WorkerPool.Disposition) -> CallReply {
        if disposition == .drop { return .failure(.unavailable, "server is shutting down") }
        if let cancellation = completion.cancellation, cancellation.isCancelled {
            return .failure(.cancelled, "call cancelled before it ran")
        }
        if let deadline = context.deadline, ContinuousClock.now >= deadline {
            return .failure(.deadlineExceeded, "deadline exceeded before the call ran")
        }
        var request = request
        if let decode = completion.decodeRequest {
            do {
                request = try decode(request)
            } catch {
                return .failure(error.code, error.message)
            }
        }
        let reply = run(method, request, context)
        if let deadline = context.deadline, ContinuousClock.now >= deadline {
            return .failure(.deadlineExceeded, "deadline exceeded")
        }
        return reply
    }

    /// Request bytes held by blocking calls waiting for a worker (for tests and metrics).
    public var queuedRequestBytes: Int { queuedBytes.load(ordering: .relaxed) }

    /// Blocking calls running and waiting on the worker pool (for tests and metrics).
    public var workerLoad: (running: Int, queued: Int) { (pool.runningCount, pool.queuedCount) }

    /// Stops the worker pool: running calls finish, calls still queued complete with UNAVAILABLE
    /// "server is shutting down", the threads are joined. Call it once every transport using
    /// this dispatcher has stopped taking calls; never from a handler.
    public func shutdown() {
        pool.shutdown()
    }
}

/// How a queued call reports back: the cancellation flag the worker checks before running it,
/// how the worker turns the request as received into the handler's (e.g. inflates it; its
/// `RPCError` is the call's reply), and the closure given its reply (on a worker thread, or the
/// thread that shuts the pool down).
public struct BlockingCompletion: Sendable {
    public var cancellation: CallCancellation?
    public var decodeRequest: (@Sendable ([UInt8]) throws(RPCError) -> [UInt8])?
    public var onComplete: @Sendable (CallReply) -> Void

    public init(cancellation: CallCancellation? = nil,
                decodeRequest: (@Sendable ([UInt8]) throws(RPCError) -> [UInt8])? = nil,
                onComplete: @escaping @Sendable (CallReply) -> Void) {
        self.cancellation = cancellation
        self.decodeRequest = decodeRequest
        self.onComplete = onComplete
    }
}

/// What `Dispatcher.start` did with a call.
public enum DispatchStart: Sendable {
    /// The call ran (inline): send this reply.
    case replied(CallReply)
    /// The call waits for a worker; its completion will be called.
    case queued
    /// The worker pool's queue or the queued-bytes budget is full: send this RESOURCE_EXHAUSTED
    /// reply (the completion is not called).
    case overloaded(CallReply)
}
