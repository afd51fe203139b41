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
    private let baseline: ServerStatistics
    private let state = Locked<(stopped: Bool, thread: Thread?)>((false, nil))
    private let wake = NSCondition()

    /// Make it before the server starts: counts are reported from this moment on.
    init(server: RPCServer, logger: Logger, interval: Duration = .seconds(1)) {
        self.server = server
        self.logger = logger
        self.interval = interval
        baseline = server.statistics
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "authd-refusals"
        state.withLock { $0.thread = thread }
        thread.start()
    }

    /// Stops the reporter after one last report.
    func stop() {
        state.withLock { $0.stopped = true }
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    private func run() {
        var last = baseline
        let seconds = interval / .seconds(1)  // Foundation waits take seconds
        while true {
            wake.lock()
            if !state.withLock({ $0.stopped }) { _ = wake.wait(until: Date().addingTimeInterval(seconds)) }
            wake.unlock()
            let now = server.statistics
            report(from: last, to: now)
            last = now
            if state.withLock({ $0.stopped }) { return }
        }
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
