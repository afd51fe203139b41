/// A client connection's keepalive as a value: after `interval` without bytes from the server it
/// sends a PING; no bytes within `timeout` of that PING and the connection is given up.
/// (`ClientConfiguration.keepaliveInterval` nil: never.)
struct ClientKeepalive {
    enum Action: Equatable {
        case none
        /// Send a PING now (recorded as sent).
        case sendPing
        /// The server did not answer the PING in time: drop the connection.
        case timedOut
    }

    let interval: Duration?
    let timeout: Duration
    private(set) var lastReceived: ContinuousClock.Instant
    private(set) var pingSentAt: ContinuousClock.Instant?

    init(interval: Duration?, timeout: Duration, now: ContinuousClock.Instant) {
        self.interval = interval
        self.timeout = timeout
        lastReceived = now
    }

    /// Bytes came from the server at `now`: it is alive, and a PING in flight counts as answered.
    mutating func received(at now: ContinuousClock.Instant) {
        lastReceived = now
        pingSentAt = nil
    }

    /// When `check` may next have something to do (nil: keepalive is off).
    var nextCheck: ContinuousClock.Instant? {
        guard let interval else { return nil }
        return pingSentAt.map { $0 + timeout } ?? lastReceived + interval
    }

    /// What is due at `now`.
    mutating func check(now: ContinuousClock.Instant) -> Action {
        guard let interval else { return .none }
        if let sent = pingSentAt { return now - sent > timeout ? .timedOut : .none }
        guard now - lastReceived > interval else { return .none }
        pingSentAt = now
        return .sendPing
    }
}
