import Foundation
import Support
import Synchronization

/// The store's health as the background probe and the store's callers last saw it, readable
/// from any thread without a lock or a wait (the Health call runs on the I/O threads).
///
/// Healthy means: a probe that started at most `staleness` ago succeeded, and no failure was
/// recorded after that probe started. So a database that stops answering is reported within
/// `staleness` even while a probe hangs in its timeout, and at once when a probe or a call
/// fails outright.
final class StoreHealth: Sendable {
    /// Monotonic nanoseconds of the start of the latest successful probe (0: none yet).
    private let succeededAt = Atomic<Int64>(0)
    /// Monotonic nanoseconds of the latest failure (0: none).
    private let failedAt = Atomic<Int64>(0)
    /// Whether a probe keeps this current (false before the core starts and after it stops).
    private let active = Atomic<Bool>(false)
    /// The last verdict logged, to log only changes (-1 unknown, 0 down, 1 up); probe thread only.
    private let reported = Atomic<Int>(-1)
    let staleness: Int64

    init(staleness: Duration) {
        self.staleness = Int64(staleness / .nanoseconds(1))
    }

    /// The verdict at `now` (monotonic ns), or nil when no probe is running.
    func isHealthy(now: Int64 = MonotonicClock.nanoseconds()) -> Bool? {
        guard active.load(ordering: .acquiring) else { return nil }
        let ok = succeededAt.load(ordering: .acquiring)
        return ok > 0 && ok > failedAt.load(ordering: .acquiring) && now - ok <= staleness
    }

    /// Records a probe's outcome (`startedAt`: when it began); returns whether the verdict
    /// changed since the last one recorded (for logging the transitions).
    func record(_ ok: Bool, startedAt: Int64) -> Bool {
        if ok {
            succeededAt.store(startedAt, ordering: .releasing)
        } else {
            recordFailure()
        }
        active.store(true, ordering: .releasing)
        let verdict = (isHealthy() ?? false) ? 1 : 0
        return reported.exchange(verdict, ordering: .relaxed) != verdict
    }

    /// A store call found the store unavailable: unhealthy until a probe started later succeeds.
    func recordFailure(at now: Int64 = MonotonicClock.nanoseconds()) {
        var current = failedAt.load(ordering: .relaxed)
        while current < now {
            let (exchanged, original) = failedAt.compareExchange(expected: current, desired: now, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
    }

    /// No probe any more: `isHealthy` answers nil again.
    func reset() {
        active.store(false, ordering: .releasing)
        reported.store(-1, ordering: .relaxed)
    }
}
