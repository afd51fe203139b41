import AuthCore
import Foundation

extension MariaDBStore {
    /// What an operation does, which decides what may be retried after a lost connection.
    enum Access {
        /// Reads only: rerun on another connection (and node) after a lost connection.
        case read
        /// Writes: run inside START TRANSACTION … COMMIT. A connection lost before COMMIT was sent
        /// rolled the transaction back, so it is rerun; a connection lost while committing leaves
        /// the outcome unknown: `StoreError(.unavailable, outcomeUnknown: true)`, never retried.
        case write
    }

    /// Runs `body` on one connection. A deadlock or certification conflict reruns the whole body
    /// (up to `conflictRetries` attempts, exponential back-off with jitter); a connection found
    /// dead is replaced (on another node when that one is gone) and the body run again, up to
    /// one attempt per endpoint plus one — for writes only while nothing can have been committed.
    /// A connection that cannot be opened at all fails at once (every endpoint was tried).
    ///
    /// `body` throws the `StoreError`s of the statements it runs; anything else it throws is
    /// reported as a `.failure` whose cause it is.
    @discardableResult
    func run<T>(_ access: Access = .read, _ body: (MariaDBConnection) throws -> T) throws(StoreError) -> T {
        var conflicts = 0
        var connectionLosses = 0
        while true {
            let connection: MariaDBConnection
            do {
                connection = try pool.checkOut()
            } catch where error.cause is ConnectionPool.Exhausted && connectionLosses < configuration.endpoints.count {
                // No connection came free in time: wait again, as often as a lost one is replaced.
                connectionLosses += 1
                continue
            }
            let outcome: Result<T, StoreError>
            do {
                outcome = .success(try attempt(access, on: connection, body))
            } catch {
                outcome = .failure(error)
            }
            pool.checkIn(connection)
            switch outcome {
            case .success(let value):
                return value
            case .failure(let error) where error.kind == .conflict && conflicts + 1 < configuration.conflictRetries:
                conflicts += 1
                let ceiling = min(0.005 * Double(1 << conflicts), 0.2)
                Thread.sleep(forTimeInterval: Double.random(in: ceiling / 2...ceiling))
            case .failure(let error) where error.kind == .unavailable && !error.outcomeUnknown
                && connectionLosses < configuration.endpoints.count:
                // A pooled connection the server had closed (idle timeout, restart), or a node
                // that died: the pool has dropped that node's idle connections; take a fresh one.
                connectionLosses += 1
            case .failure(let error):
                throw error
            }
        }
    }

    /// One run of `body` on `c`, in a transaction for writes.
    private func attempt<T>(_ access: Access, on c: MariaDBConnection,
                            _ body: (MariaDBConnection) throws -> T) throws(StoreError) -> T {
        guard access == .write else { return try storeErrors { try body(c) } }
        try c.execute(SQL.startTransaction)
        let result: T
        do {
            result = try storeErrors { try body(c) }
        } catch {
            if !c.isBroken { _ = try? c.execute(SQL.rollback) }
            throw error
        }
        do {
            try c.execute(SQL.commit)
        } catch where error.kind == .unavailable {
            throw StoreError(.unavailable, "connection lost while committing; the write may or may not have taken effect",
                             cause: error, outcomeUnknown: true)
        }
        return result
    }

    /// Runs `body`, passing its `StoreError`s on and wrapping anything else in one.
    private func storeErrors<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.failure, "unexpected error in a store operation", cause: error)
        }
    }
}
