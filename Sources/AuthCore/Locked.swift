import Foundation

/// A value guarded by a lock. `Synchronization.Mutex` would do, but on Linux it locks with futex
/// calls that ThreadSanitizer cannot see, so `swift test --sanitize=thread` reports races inside
/// every `withLock`; `NSLock` is a pthread mutex, which TSan understands.
public final class Locked<Value>: @unchecked Sendable {
    // Safe: `value` is only touched between lock() and unlock().
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
