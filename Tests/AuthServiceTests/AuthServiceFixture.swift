import AuthAPI
import AuthClient
import AuthCore
import Foundation
import Logging
import RPCCore
import RPCDispatch
@testable import AuthService
import Support
import TestSupport

/// The Auth service on an in-memory store, served in process, and a generated client calling it.
/// Cheap argon2id (tests are not about hashing); login throttling at 3 failures per pair.
struct AuthServiceFixture {
    let clock = TestClock()
    let store = InMemoryAuthStore()
    let core: AuthCore
    let handler: AuthServiceHandler
    let server: InProcessServer
    let client: Auth.Client

    static var logger: Logger {
        var l = Logger(label: "auth-service-test")
        l.logLevel = .critical
        return l
    }

    init() throws {
        var configuration = AuthTestConfiguration.make()
        configuration.throttle.pairLimit = 3
        core = try AuthCore(configuration: configuration, store: store, now: clock.function, logger: Self.logger)
        handler = AuthServiceHandler(core: core, logger: Self.logger, now: clock.function)
        server = InProcessServer(services: [AuthServiceHandler.service(core: core, logger: Self.logger, now: clock.function)],
                                 workerThreads: 2, logger: Self.logger)
        try server.start()
        client = Auth.Client(transport: server.transport(defaultTimeout: .seconds(30)))
    }

    func stop() {
        server.shutdown(grace: .seconds(1))
    }

    /// Registers `email` and returns its tokens.
    @discardableResult
    func register(_ email: String = "ada@example.com", password: String = "correct horse battery") throws -> TokenReply {
        try client.register(RegisterRequest(email: email, password: password))
    }
}

/// Runs `body` and returns the `RPCError` it threw (nil if it returned).
func rpcError(_ body: () throws -> Void) -> RPCError? {
    do {
        try body()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        return RPCError(.unknown, "not an RPCError: \(error)")
    }
}
