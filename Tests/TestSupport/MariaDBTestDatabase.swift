import Foundation
import MariaDBStore

/// A fresh database `auth_test_<random>` on the private MariaDB, migrated; dropped by `drop()`.
public final class MariaDBTestDatabase {
    public let name: String
    public let configuration: MariaDBConfiguration

    public init(poolSize: Int = 8) throws {
        let s = try TestEnvironment.database()
        name = "auth_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        configuration = MariaDBConfiguration(socket: s.socket, host: s.host, port: s.port, user: s.user, password: s.password,
                                             database: name, poolSize: poolSize, connectTimeout: 5, readTimeout: 10, writeTimeout: 10)
        try MariaDBAdministration.createDatabase(name, using: configuration)
    }

    /// A new store on this database (each has its own pool, as a separate instance would).
    public func store() throws -> MariaDBStore {
        let store = MariaDBStore(configuration: configuration)
        try store.migrate()
        return store
    }

    public func drop() {
        try? MariaDBAdministration.dropDatabase(name, using: configuration)
    }
}

/// Stores on one fresh database, made on first use and dropped by `reset()`: what a test class
/// that runs store-independent tests against MariaDB keeps between `makeStore` and `tearDown`.
public final class MariaDBStores {
    private var database: MariaDBTestDatabase?
    private var stores: [MariaDBStore] = []
    private let poolSize: Int

    public init(poolSize: Int = 8) { self.poolSize = poolSize }

    /// A new store (with its own pool) on this test's database.
    public func store() throws -> MariaDBStore {
        if database == nil { database = try MariaDBTestDatabase(poolSize: poolSize) }
        let store = try database!.store()
        stores.append(store)
        return store
    }

    /// Closes the stores and drops the database.
    public func reset() {
        stores.removeAll()
        database?.drop()
        database = nil
    }
}
