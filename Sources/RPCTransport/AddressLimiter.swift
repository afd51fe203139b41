import Support

/// Open connections per client across every I/O thread of a server, keyed by
/// `IPAddress.clientKey` (an IPv4 address, an IPv6 /64): one more than `limit` from the same
/// client is refused. Touched once when a connection is admitted and once when it closes, never
/// per call. Holds entries only for clients with connections open, so it is bounded by the
/// server's connection limit.
final class AddressLimiter: Sendable {
    /// What `admit` decided.
    enum Admission: Equatable {
        case admitted
        /// Refused; `report` is the count of refusals for this client to log now (this one
        /// included), nil when a line was logged for it less than the report interval ago.
        case refused(report: Int?)
    }

    private struct Entry {
        var open = 0
        var refusedSinceReport = 0
        var lastReport: ContinuousClock.Instant?
    }

    let limit: Int
    private let reportInterval: Duration
    private let entries = Locked<[IPAddress: Entry]>([:])

    init(limit: Int, reportInterval: Duration = .seconds(10)) {
        self.limit = limit
        self.reportInterval = reportInterval
    }

    /// Counts a new connection of `client` (its `clientKey`), or refuses it past the limit.
    /// `now` (the loop's time) paces the log lines: at most one per client per report interval.
    func admit(_ client: IPAddress, now: ContinuousClock.Instant) -> Admission {
        entries.withLock { entries in
            var entry = entries[client, default: Entry()]
            defer { entries[client] = entry }
            if entry.open < limit {
                entry.open += 1
                return .admitted
            }
            entry.refusedSinceReport += 1
            if let last = entry.lastReport, now - last < reportInterval { return .refused(report: nil) }
            entry.lastReport = now
            defer { entry.refusedSinceReport = 0 }
            return .refused(report: entry.refusedSinceReport)
        }
    }

    /// A connection `admit` counted has closed.
    func release(_ client: IPAddress) {
        entries.withLock { entries in
            guard var entry = entries[client] else { return }
            entry.open -= 1
            entries[client] = entry.open > 0 ? entry : nil
        }
    }

    /// Connections counted for `client` (for tests).
    func openConnections(_ client: IPAddress) -> Int {
        entries.withLock { $0[client]?.open ?? 0 }
    }
}
