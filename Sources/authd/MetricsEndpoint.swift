import AuthCore
import MariaDBStore
import Metrics
import RPCCore
import RPCDispatch
import RPCTransport
import Support

/// What authd's metrics listener answers (`--metrics-listen`): `GET /metrics` (Prometheus text,
/// OpenMetrics when asked), `/healthz` (the process is up) and `/readyz` (listening, database
/// answering, revocation feed fresh). Every value is read at scrape time from the object that
/// owns it: nothing here adds work to a call.
final class MetricsEndpoint: Sendable {
    /// authd's version, as `authd_build_info{version}` reports it.
    static let version = "0.1.0"

    private let core: AuthCore
    private let store: MariaDBStore?
    /// Set once the server exists (the handler is made before it).
    /// Set once the server is up, read from the I/O threads.
    private let server = Locked<RPCServer?>(nil)

    init(core: AuthCore, store: MariaDBStore?) {
        self.core = core
        self.store = store
    }

    /// The server whose counters are reported; call it once, right after creating it.
    func attach(_ server: RPCServer) {
        self.server.withLock { $0 = server }
    }

    /// The handler for `RPCServer(metricsHandler:)`.
    var handler: MetricsHTTPHandler {
        { [self] request in respond(to: request) }
    }

    func respond(to request: MetricsHTTPRequest) -> MetricsHTTPResponse? {
        switch request.path {
        case "/metrics":
            let format = MetricsText.Format.negotiated(accept: request.accept)
            return MetricsHTTPResponse(status: 200, contentType: format.contentType, body: exposition(format))
        case "/healthz":
            return MetricsHTTPResponse(status: 200, body: "ok\n")
        case "/readyz":
            if let reason = notReadyReason() {
                return MetricsHTTPResponse(status: 503, body: "not ready: \(reason)\n")
            }
            return MetricsHTTPResponse(status: 200, body: "ready\n")
        default:
            return nil
        }
    }

    /// Why authd should not get traffic now, or nil when it should.
    func notReadyReason() -> String? {
        guard let server = server.withLock({ $0 }), server.port != 0 else { return "not listening" }
        guard core.databaseAnswers else { return "database not answering" }
        guard core.revocationsAreFresh else { return "revocation feed stale" }
        return nil
    }

    /// The whole exposition.
    func exposition(_ format: MetricsText.Format) -> String {
        var text = MetricsText(format: format)
        text.family("authd_build_info", type: .info, help: "authd's version (always 1).")
        text.sample("authd_build_info", labels: ["version": Self.version], value: 1)
        if let server = server.withLock({ $0 }) {
            server.callMetrics?.write(to: &text)
            let statistics = server.statistics
            text.family("authd_overloaded_total", type: .counter,
                        help: "Calls refused with RESOURCE_EXHAUSTED because the worker pool or its queue was full.")
            text.sample("authd_overloaded_total", value: statistics.callsRejectedOverload)
            text.family("authd_connections", type: .gauge, help: "Connections open now, by wire protocol.")
            let open = server.openConnectionsByProtocol
            text.sample("authd_connections", labels: ["protocol": RPCCore.WireProtocol.authrpc.rawValue], value: open.authrpc)
            text.sample("authd_connections", labels: ["protocol": RPCCore.WireProtocol.grpc.rawValue], value: open.grpc)
            text.family("authd_connections_refused_total", type: .counter,
                        help: "Connections closed at accept: the connection limit or the per-address limit.")
            text.sample("authd_connections_refused_total", labels: ["limit": "total"], value: statistics.connectionsRefused)
            text.sample("authd_connections_refused_total", labels: ["limit": "per_address"],
                        value: statistics.connectionsRefusedPerAddress)
            text.family("authd_tls_handshake_failures_total", type: .counter, help: "TLS handshakes that failed or timed out.")
            text.sample("authd_tls_handshake_failures_total", value: statistics.tlsHandshakeFailures)
            let queue = server.workerQueue
            text.family("authd_worker_calls", type: .gauge, help: "Blocking calls on the worker pool, by state.")
            text.sample("authd_worker_calls", labels: ["state": "running"], value: queue.running)
            text.sample("authd_worker_calls", labels: ["state": "queued"], value: queue.queued)
        }
        let statistics = core.statistics
        text.family("authd_validate_cache_hits_total", type: .counter,
                    help: "Validations answered from the validated-token cache (signature not verified again).")
        text.sample("authd_validate_cache_hits_total", value: statistics.validateCacheHits)
        text.family("authd_validate_cache_misses_total", type: .counter,
                    help: "Validations of a token not in the validated-token cache (verified in full).")
        text.sample("authd_validate_cache_misses_total", value: statistics.validateCacheMisses)
        text.family("authd_throttled_total", type: .counter, help: "Attempts refused by the throttling policy, by kind.")
        text.sample("authd_throttled_total", labels: ["kind": "login"], value: statistics.throttledLogins)
        text.sample("authd_throttled_total", labels: ["kind": "register"], value: statistics.throttledRegistrations)
        text.family("authd_argon2_waiting", type: .gauge, help: "Password hashes waiting for an argon2id slot now.")
        text.sample("authd_argon2_waiting", value: statistics.argon2Waiting)
        text.family("authd_db_errors_total", type: .counter, help: "Database calls that failed (unavailable or otherwise).")
        text.sample("authd_db_errors_total", value: statistics.storeErrors)
        if let store {
            let pool = store.poolConnections
            text.family("authd_db_pool_connections", type: .gauge, help: "Database pool connections, by state (max: the pool size).")
            text.sample("authd_db_pool_connections", labels: ["state": "in_use"], value: pool.inUse)
            text.sample("authd_db_pool_connections", labels: ["state": "idle"], value: pool.idle)
            text.sample("authd_db_pool_connections", labels: ["state": "max"], value: pool.max)
        }
        let feed = core.revocationFeed
        if let age = feed.age {
            text.family("authd_revocation_feed_age_seconds", type: .gauge,
                        help: "Seconds since the last successful read of the revocation feed began.", unit: "seconds")
            text.sample("authd_revocation_feed_age_seconds", value: age)
        }
        text.family("authd_revocation_poll_failures_total", type: .counter, help: "Revocation feed reads that failed.")
        text.sample("authd_revocation_poll_failures_total", value: feed.pollFailures)
        text.family("authd_database_up", type: .gauge, help: "1 when the database answered the last health probe.")
        text.sample("authd_database_up", value: core.databaseAnswers ? 1 : 0)
        ProcessMetrics.write(to: &text)
        return text.finish()
    }
}
