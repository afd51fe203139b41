import Foundation

/// A background thread that runs a job every interval until stopped: the one background-ticker
/// type (the revocation poller and the store health probe in AuthCore, authd's refusal reporter).
public final class Ticker: @unchecked Sendable {
    // Safe: `running` and `stopRequested` are only touched with `condition` locked; `finished`
    // is a semaphore.
    private let condition = NSCondition()
    private var running = false
    private var stopRequested = false
    private var finished = DispatchSemaphore(value: 0)

    public init() {}

    /// Starts the thread (named `name`), which runs `poll` every `interval`; does nothing if started.
    public func start(interval: Duration, name: String, poll: @escaping @Sendable () -> Void) {
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
                let deadline = Date().addingTimeInterval(interval / .seconds(1))
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
    public func stop(wait: Bool = true) {
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
