import Logging
import RPCCore
import RPCDispatch
import Support
import Synchronization

/// What every event loop of one server shares: the dispatcher (methods, worker pool, status
/// mapping), limits, TLS, counters.
final class ServerCore: Sendable {
    let dispatcher: Dispatcher
    let limits: ServerLimits
    /// The context new connections are made from; `RPCServer.reloadTLS` swaps it. Read once per
    /// accepted connection, never per call; a connection keeps the context it was made from.
    private let currentTLS: Locked<TLSContext>
    let logger: Logger
    /// `ServerConfiguration.busyPoll`.
    let busyPoll: Duration?
    /// What the metrics listener answers (nil: its connections are closed at once).
    let metricsHandler: MetricsHTTPHandler?
    let connectionCount = Atomic<Int>(0)
    /// Of `connectionCount`, those that chose gRPC (ALPN `h2`).
    let grpcConnectionCount = Atomic<Int>(0)
    let counters = ServerCounters()

    init(dispatcher: Dispatcher, limits: ServerLimits, tls: TLSContext, logger: Logger, busyPoll: Duration? = nil,
         metricsHandler: MetricsHTTPHandler? = nil) {
        self.metricsHandler = metricsHandler
        self.dispatcher = dispatcher
        self.limits = limits
        currentTLS = Locked(tls)
        self.logger = logger
        self.busyPoll = busyPoll
    }

    /// The context for a new connection.
    var tls: TLSContext { currentTLS.withLock { $0 } }

    /// Makes `tls` the context of new connections; returns the one it replaces (freed once the
    /// last connection made from it is gone).
    func replaceTLS(_ tls: TLSContext) -> TLSContext {
        currentTLS.withLock { current in
            defer { current = tls }
            return current
        }
    }
}

/// Counters of what a server did, for tests and metrics.
public struct ServerStatistics: Sendable, Equatable {
    public var connectionsAccepted: Int
    public var connectionsRefused: Int
    /// Connections closed at accept because their client address had `maxConnectionsPerAddress` open.
    public var connectionsRefusedPerAddress: Int
    public var protocolErrors: Int
    public var compressedRequests: Int
    public var compressedReplies: Int
    public var callsRejectedOverload: Int
    public var slowReadersCut: Int
    /// TLS handshakes that failed (bad certificate, wrong version, garbage) or timed out.
    public var tlsHandshakeFailures: Int
}

final class ServerCounters: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let connectionsRefused = Atomic<Int>(0)
    let connectionsRefusedPerAddress = Atomic<Int>(0)
    let protocolErrors = Atomic<Int>(0)
    let compressedRequests = Atomic<Int>(0)
    let compressedReplies = Atomic<Int>(0)
    let callsRejectedOverload = Atomic<Int>(0)
    let slowReadersCut = Atomic<Int>(0)
    let tlsHandshakeFailures = Atomic<Int>(0)

    var snapshot: ServerStatistics {
        ServerStatistics(connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
                         connectionsRefused: connectionsRefused.load(ordering: .relaxed),
                         connectionsRefusedPerAddress: connectionsRefusedPerAddress.load(ordering: .relaxed),
                         protocolErrors: protocolErrors.load(ordering: .relaxed),
                         compressedRequests: compressedRequests.load(ordering: .relaxed),
                         compressedReplies: compressedReplies.load(ordering: .relaxed),
                         callsRejectedOverload: callsRejectedOverload.load(ordering: .relaxed),
                         slowReadersCut: slowReadersCut.load(ordering: .relaxed),
                         tlsHandshakeFailures: tlsHandshakeFailures.load(ordering: .relaxed))
    }
}

extension Atomic where Value == Int {
    func increment() { _ = add(1, ordering: .relaxed) }
}
