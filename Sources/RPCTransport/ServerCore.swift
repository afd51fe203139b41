import Logging
import RPCCore
import Synchronization

/// What every event loop of one server shares: the method table, limits, TLS, workers, counters.
final class ServerCore: Sendable {
    let methods: [String: ServerMethod]
    /// The same methods, looked up by a CALL's method-name bytes.
    let methodTable: MethodTable
    let limits: ServerLimits
    let tls: TLSContext
    let pool: WorkerPool
    let logger: Logger
    /// `ServerConfiguration.busyPoll`.
    let busyPoll: Duration?
    let connectionCount = Atomic<Int>(0)
    let counters = ServerCounters()

    init(methods: [String: ServerMethod], limits: ServerLimits, tls: TLSContext, pool: WorkerPool, logger: Logger,
         busyPoll: Duration? = nil) {
        self.busyPoll = busyPoll
        self.methods = methods
        methodTable = MethodTable(methods)
        self.limits = limits
        self.tls = tls
        self.pool = pool
        self.logger = logger
    }

    /// Runs a handler and turns its outcome into a reply; unexpected errors are logged and hidden.
    func run(_ method: ServerMethod, _ request: [UInt8], _ context: ServerContext) -> HandlerReply {
        do {
            return .success(try method.handler(request, context))
        } catch let error as RPCError {
            return .failure(error.code, error.message)
        } catch {
            logger.error("handler failed", metadata: ["method": "\(method.descriptor.fullName)", "error": "\(error)"])
            return .failure(.internalError, "internal error")
        }
    }
}

/// The outcome of one call, as sent in its REPLY.
enum HandlerReply: Sendable {
    case success([UInt8])
    case failure(StatusCode, String)
}

/// Counters of what a server did, for tests and metrics.
public struct ServerStatistics: Sendable, Equatable {
    public var connectionsAccepted: Int
    public var connectionsRefused: Int
    public var protocolErrors: Int
    public var compressedRequests: Int
    public var compressedReplies: Int
    public var callsRejectedOverload: Int
    public var slowReadersCut: Int
}

final class ServerCounters: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let connectionsRefused = Atomic<Int>(0)
    let protocolErrors = Atomic<Int>(0)
    let compressedRequests = Atomic<Int>(0)
    let compressedReplies = Atomic<Int>(0)
    let callsRejectedOverload = Atomic<Int>(0)
    let slowReadersCut = Atomic<Int>(0)

    var snapshot: ServerStatistics {
        ServerStatistics(connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
                         connectionsRefused: connectionsRefused.load(ordering: .relaxed),
                         protocolErrors: protocolErrors.load(ordering: .relaxed),
                         compressedRequests: compressedRequests.load(ordering: .relaxed),
                         compressedReplies: compressedReplies.load(ordering: .relaxed),
                         callsRejectedOverload: callsRejectedOverload.load(ordering: .relaxed),
                         slowReadersCut: slowReadersCut.load(ordering: .relaxed))
    }
}

extension Atomic where Value == Int {
    func increment() { _ = add(1, ordering: .relaxed) }
}
