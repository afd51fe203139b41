import AuthCore
import Foundation

/// A bounded pool of connections, opened lazily. A caller waits at most `connectTimeout` for a
/// free one; a connection that failed with a connection error is discarded and replaced by a new
/// one on a later checkout (that is the reconnect).
///
/// Fail-over: new connections go to the configured endpoints in order, except that an endpoint
/// that refused a connection or whose connection broke is tried last for `endpointQuarantine`
/// seconds; when a connection breaks, the idle connections to the same endpoint are dropped too
/// (a node that died took all of them), so the next checkout opens one on a live node.
final class ConnectionPool: @unchecked Sendable {
    // Safe: `idle`, `open` and `quarantinedUntil` are only touched with `condition` locked; a
    // connection is used by the one caller that checked it out.
    private let configuration: MariaDBConfiguration
    private let condition = NSCondition()
    private var idle: [MariaDBConnection] = []
    private var open = 0
    private var quarantinedUntil: [Date?]

    /// Every connection stayed in use for `connectTimeout` (the cause of that `.unavailable` error).
    struct Exhausted: Error, CustomStringConvertible {
        var description: String { "connection pool exhausted" }
    }

    init(configuration: MariaDBConfiguration) {
        self.configuration = configuration
        quarantinedUntil = Array(repeating: nil, count: configuration.endpoints.count)
    }

    /// Endpoint indices in the order to try now: healthy ones in configured order, then the
    /// quarantined ones (soonest released first), so a connection is still attempted when all are.
    func endpointOrder(now: Date = Date()) -> [Int] {
        condition.lock()
        defer { condition.unlock() }
        let indices = Array(configuration.endpoints.indices)
        let healthy = indices.filter { (quarantinedUntil[$0] ?? .distantPast) <= now }
        let held = indices.filter { (quarantinedUntil[$0] ?? .distantPast) > now }
            .sorted { quarantinedUntil[$0]! < quarantinedUntil[$1]! }
        return healthy + held
    }

    /// Marks an endpoint as failing (tried last for a while) and drops idle connections to it.
    func quarantine(_ endpoint: MariaDBConfiguration.Endpoint) {
        condition.lock()
        defer { condition.unlock() }
        guard let index = configuration.endpoints.firstIndex(of: endpoint) else { return }
        quarantinedUntil[index] = Date().addingTimeInterval(configuration.endpointQuarantine)
        let before = idle.count
        idle.removeAll { $0.endpoint == endpoint }
        open -= before - idle.count
        condition.broadcast()
    }

    /// A connection of the caller's own, to be given back with `checkIn`. Throws `.unavailable`
    /// when none is free within `connectTimeout` or none can be opened on any endpoint (every
    /// endpoint has then been tried: trying again at once would only wait again).
    func checkOut() throws(StoreError) -> MariaDBConnection {
        let deadline = Date().addingTimeInterval(TimeInterval(configuration.connectTimeout))
        condition.lock()
        while idle.isEmpty && open >= configuration.poolSize {
            if !condition.wait(until: deadline) && idle.isEmpty && open >= configuration.poolSize {
                condition.unlock()
                throw StoreError(.unavailable, "no free database connection within \(configuration.connectTimeout) s",
                                 cause: Exhausted())
            }
        }
        if let connection = idle.popLast() {
            condition.unlock()
            return connection
        }
        open += 1
        condition.unlock()
        do {
            return try MariaDBConnection.connect(configuration, order: endpointOrder()) { [self] index in
                quarantine(configuration.endpoints[index])
            }
        } catch {
            condition.lock()
            open -= 1
            condition.signal()
            condition.unlock()
            throw error
        }
    }

    /// Connections open now, and how many of them are idle (for metrics).
    var counts: (open: Int, idle: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (open, idle.count)
    }

    /// Gives back a checked-out connection: kept for reuse, or dropped (and its endpoint held
    /// back) when it broke.
    func checkIn(_ connection: MariaDBConnection) {
        if connection.isBroken { quarantine(connection.endpoint) }
        condition.lock()
        if connection.isBroken {
            open -= 1
        } else {
            idle.append(connection)
        }
        condition.signal()
        condition.unlock()
    }

    /// Closes the idle connections (those in use close when returned broken or at deinit).
    func drain() {
        condition.lock()
        open -= idle.count
        idle.removeAll()
        condition.unlock()
    }
}
