import RPCCore
import Support
import Synchronization

/// A client over several servers (for example `authd` instances behind no load balancer, or as
/// well as one): calls are spread round-robin, a server that fails is avoided for a while, and a
/// failed call is retried on another server only when that is safe.
///
/// - A server that cannot be connected to, sent GOAWAY, dropped a connection, answered
///   UNAVAILABLE or let a call reach its deadline is held back for `quarantine` (still used when
///   every server is held back, so the client never refuses to try).
/// - Retried on the next server, within the caller's deadline: a call the server certainly did not
///   process (`RPCError.callWasNotProcessed`: never sent, or refused by GOAWAY) or answered ABORTED
///   (a write that conflicted with concurrent ones and was rolled back) whatever its method;
///   a call answered UNAVAILABLE after it may have been processed only when its method descriptor
///   says a repeat is safe (`MethodDescriptor.idempotency`, from the schema's
///   `option idempotency_level`; for Auth: Validate, Status and Health).
/// - Never retried: DEADLINE_EXCEEDED, every other status, and any call of a method without an
///   idempotency level that may have reached a server: the caller gets the error.
///
/// ```swift
/// let tls = TLSConfiguration.client(trustRootsFile: "ca.pem")
/// let client = try BalancedClient(addresses: "10.0.0.1:7443,10.0.0.2:7443") { host, port in
///     ClientConfiguration(host: host, port: port, tls: tls)
/// }
/// let auth = Auth.Client(transport: client)
/// ```
public final class BalancedClient: ClientTransport {
    public let configurations: [ClientConfiguration]
    private let connections: [ClientConnection]
    private let quarantine: Duration
    private let heldUntil: Locked<[ContinuousClock.Instant?]>
    private let nextIndex = Atomic<Int>(0)
    private let retryCount = Atomic<Int>(0)

    /// One connection per configuration (each connects on its first call).
    public init(configurations: [ClientConfiguration], quarantine: Duration = .seconds(2)) throws {
        precondition(!configurations.isEmpty, "BalancedClient needs at least one server")
        self.configurations = configurations
        connections = try configurations.map { try ClientConnection(configuration: $0) }
        self.quarantine = quarantine
        heldUntil = Locked(Array(repeating: nil, count: configurations.count))
    }

    /// From `"host:port,host:port"` (IPv6 literals in brackets), building each server's
    /// configuration with `configure(host, port)`. Throws `RPCError(.invalidArgument)` for a bad list.
    public convenience init(addresses: String, quarantine: Duration = .seconds(2),
                            configure: (_ host: String, _ port: Int) -> ClientConfiguration) throws {
        try self.init(configurations: try Self.parseAddresses(addresses).map { configure($0.host, $0.port) },
                      quarantine: quarantine)
    }

    /// `"host:port,host:port"` as pairs; IPv6 literals as `[::1]:7443` (`HostPort.parseList`).
    public static func parseAddresses(_ list: String) throws(RPCError) -> [(host: String, port: Int)] {
        do {
            return try HostPort.parseList(list).map { ($0.host, $0.port) }
        } catch {
            throw RPCError(.invalidArgument, error.description)
        }
    }

    /// Calls retried on another server since the client was made.
    public var retries: Int { retryCount.load(ordering: .relaxed) }

    /// Closes every connection (calls in flight are answered first).
    public func close() { connections.forEach { $0.close() } }

    /// Closes every connection and waits up to `timeout` for their I/O threads (see
    /// `ClientConnection.close(waitingUpTo:)`); true if all finished.
    @discardableResult
    public func close(waitingUpTo timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        return connections.map { $0.close(waitingUpTo: max(.zero, deadline - .now)) }.allSatisfy { $0 }
    }

    public func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) throws -> [UInt8] {
        let deadline = self.deadline(options)
        var lastError: RPCError?
        for (attempt, index) in order().enumerated() {
            guard let attemptOptions = self.options(options, deadline: deadline) else { break }
            do {
                return try connections[index].unary(method, request: request, options: attemptOptions)
            } catch let error as RPCError {
                lastError = error
                guard retryable(error, method: method, server: index, last: attempt == connections.count - 1) else { throw error }
            }
        }
        throw Self.exhausted(lastError, deadline: deadline)
    }

    public func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8] {
        let deadline = self.deadline(options)
        var lastError: RPCError?
        for (attempt, index) in order().enumerated() {
            guard let attemptOptions = self.options(options, deadline: deadline) else { break }
            do {
                return try await connections[index].unary(method, request: request, options: attemptOptions)
            } catch let error as RPCError {
                lastError = error
                guard retryable(error, method: method, server: index, last: attempt == connections.count - 1) else { throw error }
            }
        }
        throw Self.exhausted(lastError, deadline: deadline)
    }

    // MARK: Choosing and retrying

    private func deadline(_ options: CallOptions) -> ContinuousClock.Instant? {
        (options.timeout ?? configurations[0].defaultTimeout).map { ContinuousClock.now + $0 }
    }

    /// The options of one attempt: the caller's, with the time left; nil when none is left.
    private func options(_ options: CallOptions, deadline: ContinuousClock.Instant?) -> CallOptions? {
        guard let deadline else { return options }
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return nil }
        var o = options
        o.timeout = left
        return o
    }

    /// Server indices to try: round-robin over those not held back, then the held-back ones
    /// (soonest released first).
    func order(now: ContinuousClock.Instant = .now) -> [Int] {
        let n = connections.count
        let start = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue % n
        let held = heldUntil.withLock { $0 }
        let rotated = (0..<n).map { (start + $0) % n }
        let ready = rotated.filter { (held[$0] ?? now) <= now }
        let waiting = rotated.filter { (held[$0] ?? now) > now }.sorted { held[$0]! < held[$1]! }
        return ready + waiting
    }

    /// Holds the server back after a transport-level failure; says whether the call may be retried.
    private func retryable(_ error: RPCError, method: MethodDescriptor, server: Int, last: Bool) -> Bool {
        if error.code == .unavailable || error.code == .deadlineExceeded {
            let until = ContinuousClock.now + quarantine
            heldUntil.withLock { $0[server] = until }
        }
        let safe = error.callWasNotProcessed || error.code == .aborted
            || (error.code == .unavailable && method.idempotency.allowsRepeat)
        guard safe, !last else { return false }
        retryCount.add(1, ordering: .relaxed)
        return true
    }

    private static func exhausted(_ lastError: RPCError?, deadline: ContinuousClock.Instant?) -> RPCError {
        if let deadline, deadline <= .now { return RPCError(.deadlineExceeded, "deadline exceeded") }
        return lastError ?? RPCError(.unavailable, "no server available")
    }
}
