import Foundation

/// A background thread that runs a poll every interval until stopped (the revocation poller,
/// the store health probe).
final class RevocationPoller: @unchecked Sendable {
    // Safe: `running` and `stopRequested` are only touched with `condition` locked; `finished`
    // is a semaphore.
    private let condition = NSCondition()
    private var running = false
    private var stopRequested = false
    private var finished = DispatchSemaphore(value: 0)

    func start(interval: Duration, name: String = "auth-revocation-poller", poll: @escaping @Sendable () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        guard !running else { return }
        running = true
        stopRequested = false
        finished = DispatchSemaphore(value: 0)
        let done = finished
        let thread = Thread { [self] in
            while true {
                condition.lock()
                let deadline = Date().addingTimeInterval(interval.timeInterval)
                while !stopRequested, Date() < deadline { _ = condition.wait(until: deadline) }
                let stop = stopRequested
                condition.unlock()
                if stop { break }
                poll()
            }
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Asks the thread to stop; with `wait`, returns once it has (never pass `wait` from the
    /// poll itself: the owner's deinit can run there when the poll held the last reference).
    func stop(wait: Bool = true) {
        condition.lock()
        guard running else { condition.unlock(); return }
        running = false
        stopRequested = true
        condition.broadcast()
        let done = finished
        condition.unlock()
        if wait { done.wait() }
    }
}
