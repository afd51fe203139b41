import Foundation
import Logging
import RPCCore
import RPCTransport
import Support

/// Logs the calls the transport refuses on its own (RESOURCE_EXHAUSTED when the worker pool is
/// full, connections refused at the limit, protocol errors), which never reach the service's
/// handler. One line a second at most, with the counts since the previous line: under overload a
/// line per refused call would add to the load it reports.
final class RefusalReporter: Sendable {
    private let server: RPCServer
    private let logger: Logger
    private let interval: Duration
    private let ticker = Ticker()
    private let last: Locked<ServerStatistics>

    /// Make it before the server starts: counts are reported from this moment on.
    init(server: RPCServer, logger: Logger, interval: Duration = .seconds(1)) {
        self.server = server
        self.logger = logger
        self.interval = interval
        last = Locked(server.statistics)
    }

    func start() {
        ticker.start(interval: interval, name: "authd-refusals") { [self] in reportSinceLast() }
    }

    /// Stops the reporter after one last report.
    func stop() {
        ticker.stop()
        reportSinceLast()
    }

    private func reportSinceLast() {
        let now = server.statistics
        let previous = last.withLock { value in
            defer { value = now }
            return value
        }
        report(from: previous, to: now)
    }

    private func report(from a: ServerStatistics, to b: ServerStatistics) {
        let overload = b.callsRejectedOverload - a.callsRejectedOverload
        if overload > 0 {
            logger.warning("calls refused: server overloaded", metadata: ["code": "RESOURCE_EXHAUSTED", "calls": "\(overload)"])
        }
        let refused = b.connectionsRefused - a.connectionsRefused
        if refused > 0 {
            logger.warning("connections refused at the connection limit", metadata: ["connections": "\(refused)"])
        }
        let violations = b.protocolErrors - a.protocolErrors
        if violations > 0 {
            logger.warning("connections closed for protocol errors", metadata: ["connections": "\(violations)"])
        }
    }
}
