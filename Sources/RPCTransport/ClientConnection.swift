import RPCCore
import Support
import Synchronization

/// A client of the RPC protocol: one TLS connection carrying many concurrent calls from any
/// number of threads or tasks. A dropped connection fails its calls in flight with UNAVAILABLE;
/// the next call connects again.
///
/// Three ways to call: blocking `unary` (plain threads), async `unary` (tasks), and `start(_:request:options:onReply:)`,
/// whose callback runs on the connection's I/O thread — the cheapest, for code that keeps many
/// calls in flight (a load generator, a proxy).
///
/// ```swift
/// let client = try ClientConnection(configuration: ClientConfiguration(
///     host: "127.0.0.1", port: 7443, tls: .client(trustRootsFile: "ca.pem")))
/// let reply = try client.unary(method, request: bytes, options: .bearer(token, timeout: .seconds(2)))
/// try client.start(method, request: bytes, options: CallOptions()) { result in
///     print(result)   // on the I/O thread: keep it short
/// }
/// ```
public final class ClientConnection: ClientTransport {
    public let configuration: ClientConfiguration
    private let tls: TLSContext
    private let current = Locked<ClientSession?>(nil)
    private let closed = Atomic<Bool>(false)
    private let counters = ClientCounters()

    /// Makes the TLS context (throws `TLSError` for unreadable files); connects on the first call.
    public init(configuration: ClientConfiguration) throws {
        self.configuration = configuration
        tls = try TLSContext(configuration: configuration.tls, isServer: false)
    }

    deinit {
        current.withLock { $0?.shutdown() }
    }

    /// Blocking call for plain threads.
    public func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) throws -> [UInt8] {
        let caller = BlockedCaller()
        try start(method, request: request, options: options, waiter: .thread(caller))
        return try caller.wait().get()
    }

    /// Callback call: starts the call and returns at once; `onReply` runs exactly once, with the
    /// reply or the call's error (deadline, status from the server, UNAVAILABLE when the connection
    /// drops). An error thrown here means the call was never sent and `onReply` will not run.
    ///
    /// `onReply` runs on the connection's I/O thread, which reads and writes for every call of the
    /// connection: keep it short and never block in it. It may start further calls (on this or another
    /// connection); those started on this connection from inside a callback cost no wake-up: they
    /// are written, batched with the others, before the I/O thread sleeps again. (It must not call
    /// `close(waitingUpTo:)`: that would wait for the very thread it runs on.)
    public func start(_ method: MethodDescriptor, request: [UInt8], options: CallOptions,
                      onReply: @escaping @Sendable (Result<[UInt8], RPCError>) -> Void) throws(RPCError) {
        try start(method, request: request, options: options, waiter: .callback(onReply))
    }

    /// Async call: the task suspends; no thread is blocked. Cancelling the task fails the call
    /// with CANCELLED and sends CANCEL to the server.
    public func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8] {
        let started = Locked<(session: ClientSession, id: UInt32)?>(nil)
        let cancelled = Atomic<Bool>(false)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let waiter = CallWaiter.task(continuation)
                do {
                    let call = try start(method, request: request, options: options, waiter: waiter)
                    started.withLock { $0 = call }
                    if cancelled.load(ordering: .acquiring) { call.session.cancel(callID: call.id) }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            cancelled.store(true, ordering: .releasing)
            if let call = started.withLock({ $0 }) { call.session.cancel(callID: call.id) }
        }
    }

    /// Closes the connection once the calls in flight are answered; later calls fail with UNAVAILABLE.
    public func close() {
        closed.store(true, ordering: .relaxed)
        current.withLock { s in
            s?.shutdown()
            s = nil
        }
    }

    /// Closes as `close()` does, then waits up to `timeout` for the I/O thread to finish its last TLS
    /// calls; true if it did. A process about to exit calls this, so its exit-time clean-up (OpenSSL's
    /// included) does not race a connection's I/O thread.
    @discardableResult
    public func close(waitingUpTo timeout: Duration) -> Bool {
        closed.store(true, ordering: .relaxed)
        let session = current.withLock { s -> ClientSession? in
            defer { s = nil }
            s?.shutdown()
            return s
        }
        return session?.waitUntilEnded(timeout: timeout) ?? true
    }

    /// Requests and replies sent or received compressed, and connections opened.
    public var statistics: (compressedRequests: Int, compressedReplies: Int, connectionsOpened: Int) {
        (counters.compressedRequests.load(ordering: .relaxed), counters.compressedReplies.load(ordering: .relaxed),
         counters.connectionsOpened.load(ordering: .relaxed))
    }

    /// Times a caller had to wake the I/O thread (tests check that calls started from callbacks need none).
    var wakeUps: Int { counters.wakeUps.load(ordering: .relaxed) }

    /// Starts a call on the current session (opening one if needed). An error thrown here means the
    /// call was never sent, and UNAVAILABLE ones say so (`CallNotProcessed`).
    @discardableResult
    private func start(_ method: MethodDescriptor, request: [UInt8], options: CallOptions,
                       waiter: CallWaiter) throws(RPCError) -> (session: ClientSession, id: UInt32) {
        do {
            return try startOnce(method, request: request, options: options, waiter: waiter)
        } catch where error.code == .unavailable {
            throw error.markedNotProcessed()
        }
    }

    private func startOnce(_ method: MethodDescriptor, request: [UInt8], options: CallOptions,
                           waiter: CallWaiter) throws(RPCError) -> (session: ClientSession, id: UInt32) {
        var refused: ClientSession?
        for attempt in 0..<2 {
            let session = try self.session(replacing: refused)
            do {
                return (session, try session.start(method, request: request, options: options, waiter: waiter))
            } catch where error.code == .unavailable && attempt == 0 {
                refused = session  // the session is over (or going away): take a fresh one
            }
        }
        throw RPCError.connectionFailure("connection unavailable")
    }

    /// The current session, opening one if there is none or the current one is `refused` (it refused
    /// a call: closed, failed or going away). The session is not asked whether it takes calls here:
    /// its `start` says so, and that saves a lock round trip a call.
    private func session(replacing refused: ClientSession?) throws(RPCError) -> ClientSession {
        guard !closed.load(ordering: .relaxed) else { throw RPCError(.unavailable, "client closed") }
        return try current.withLock { (current: inout ClientSession?) throws(RPCError) -> ClientSession in
            if let s = current, s !== refused { return s }
            current?.shutdown()
            do {
                let s = try ClientSession(configuration: configuration, tls: tls, counters: counters)
                counters.connectionsOpened.increment()
                current = s
                return s
            } catch {
                throw RPCError.connectionFailure("cannot open a connection: \(error)", underlying: error)
            }
        }
    }
}
