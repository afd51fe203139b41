import Glibc

/// CLOCK_MONOTONIC read straight from the C library, as whole nanoseconds: for hot paths that time
/// something and keep only a number. `ContinuousClock.Instant` is a resilient standard-library
/// type, so holding one (or an optional one) goes through runtime value witnesses; this does not.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point (boot), never going backwards.
    @inlinable
    public static func nanoseconds() -> Int64 {
        var ts = timespec()
        // clock_gettime(CLOCK_MONOTONIC): 0; it cannot fail with a valid clock and pointer.
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
