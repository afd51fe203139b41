import AuthCore
import Foundation

/// A bounded pool of connections, opened lazily. A caller waits at most `connectTimeout` for a
/// free one; a connection that failed with a connection error is discarded and replaced by a new
/// one on a later checkout (that is the reconnect).
final class ConnectionPool: @unchecked Sendable {
    // Safe: `idle` and `open` are only touched with `condition` locked; a connection is used by
    // the one caller that checked it out.
    private let configuration: MariaDBConfiguration
    private let condition = NSCondition()
    private var idle: [MariaDBConnection] = []
    private var open = 0

    init(configuration: MariaDBConfiguration) {
        self.configuration = configuration
    }

    /// Runs `body` with a connection of its own.
    func withConnection<T>(_ body: (MariaDBConnection) throws -> T) throws -> T {
        let connection = try checkOut()
        defer { checkIn(connection) }
        return try body(connection)
    }

    private func checkOut() throws -> MariaDBConnection {
        let deadline = Date().addingTimeInterval(TimeInterval(configuration.connectTimeout))
        condition.lock()
        while idle.isEmpty && open >= configuration.poolSize {
            if !condition.wait(until: deadline) && idle.isEmpty && open >= configuration.poolSize {
                condition.unlock()
                throw StoreError(.unavailable, "no free database connection within \(configuration.connectTimeout) s")
            }
        }
        if let connection = idle.popLast() {
            condition.unlock()
            return connection
        }
        open += 1
        condition.unlock()
        do {
            return try MariaDBConnection.connect(configuration)
        } catch {
            condition.lock()
            open -= 1
            condition.signal()
            condition.unlock()
            throw error
        }
    }

    private func checkIn(_ connection: MariaDBConnection) {
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
