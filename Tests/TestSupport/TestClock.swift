import Foundation
import Support

/// A wall clock tests move by hand, injected as a core's `now:`. Starts at a fixed instant
/// (2027-01-15), so tests do not depend on the day they run.
public final class TestClock: Sendable {
    private let current: Locked<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Locked(start) }

    public var now: Date { current.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    public func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    /// Moves the clock forward by `duration`.
    public func advance(_ duration: Duration) { advance(TimeInterval(duration / .milliseconds(1)) / 1000) }

    /// The clock as a `now:` function.
    public var function: @Sendable () -> Date { { [self] in self.now } }
}
