import Logging
import RPCCore
import RPCDispatch
import Synchronization

/// What every event loop of one server shares: the dispatcher (methods, worker pool, status
/// mapping), limits, TLS, counters.
final class ServerCore: Sendable {
    let dispatcher: Dispatcher
    let limits: ServerLimits
    let tls: TLSContext
    let logger: Logger
    /// `ServerConfiguration.busyPoll`.
    let busyPoll: Duration?
    /// What the metrics listener answers (nil: its connections are closed at once).
    let metricsHandler: MetricsHTTPHandler?
    let connectionCount = Atomic<Int>(0)
    let counters = ServerCounters()

    init(dispatcher: Dispatcher, limits: ServerLimits, tls: TLSContext, logger: Logger, busyPoll: Duration? = nil,
         metricsHandler: MetricsHTTPHandler? = nil) {
        self.metricsHandler = metricsHandler
        self.dispatcher = dispatcher
        self.limits = limits
        self.tls = tls
        self.logger = logger
        self.busyPoll = busyPoll
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
