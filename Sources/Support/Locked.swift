import Foundation

/// A value guarded by a lock, shared by the transport and the auth core (one lock type for the
/// whole server). `Synchronization.Mutex` would do, but on Linux it locks with futex calls that
/// ThreadSanitizer cannot see, so `swift test --sanitize=thread` reports false races inside every
/// `withLock`; `NSLock` is a pthread mutex, which TSan understands.
///
/// `withLock` is `@inlinable` so that other modules specialize it for their value type: unspecialized,
/// a generic call from another module costs a runtime metadata lookup, which showed up on the
/// client's per-call path.
public final class Locked<Value>: @unchecked Sendable {
    // Safe: `value` is only touched between lock() and unlock().
    @usableFromInline let lock = NSLock()
    @usableFromInline var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, holding the lock; its error type is kept (as `Mutex.withLock` does).
    @inlinable
    public func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
