import RPCCore

/// One connection's cap on blocking calls (waiting for a worker or running on one), the same for
/// both wire protocols: past `limit`, the next blocking call is refused at once.
struct BlockingCallLimit {
    let limit: Int
    /// Blocking calls of the connection queued or running now.
    private(set) var count = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// The refusal to send for one more blocking call; nil when it may start.
    var refusal: (status: StatusCode, message: String)? {
        guard count >= limit else { return nil }
        return (.resourceExhausted, "too many blocking calls on this connection (limit \(limit)), try again later")
    }

    /// A blocking call was queued for a worker.
    mutating func started() {
        count += 1
    }

    /// A blocking call counted by `started` finished (or was skipped by its worker).
    mutating func ended() {
        count -= 1
    }
}
