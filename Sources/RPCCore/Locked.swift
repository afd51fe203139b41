import Foundation

/// A value guarded by a lock, shared by the transport and the auth core (one lock type for the
/// whole server). `Synchronization.Mutex` would do, but on Linux it locks with futex calls that
/// ThreadSanitizer cannot see, so `swift test --sanitize=thread` reports false races inside every
/// `withLock`; `NSLock` is a pthread mutex, which TSan understands.
public final class Locked<Value>: @unchecked Sendable {
    // Safe: `value` is only touched between lock() and unlock().
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, holding the lock; its error type is kept (as `Mutex.withLock` does).
    public func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
