import Dispatch
import RPCCore

/// How a caller waits for its reply: a blocked thread (semaphore) or a suspended task (continuation).
/// Resumed exactly once: the client state machine hands each waiter out once.
final class CallWaiter: @unchecked Sendable {
    // @unchecked Sendable: `result` is written once by the resuming thread before `semaphore.signal()`
    // and read by the waiting thread only after `semaphore.wait()` returns (a happens-before edge).
    private let semaphore: DispatchSemaphore?
    private let continuation: CheckedContinuation<[UInt8], any Error>?
    private var result: Result<[UInt8], RPCError>?

    init() {
        semaphore = DispatchSemaphore(value: 0)
        continuation = nil
    }

    init(_ continuation: CheckedContinuation<[UInt8], any Error>) {
        semaphore = nil
        self.continuation = continuation
    }

    func resume(_ result: Result<[UInt8], RPCError>) {
        if let continuation {
            continuation.resume(with: result.mapError { $0 as any Error })
        } else {
            self.result = result
            semaphore?.signal()
        }
    }

    /// Blocks until resumed (blocking waiters only).
    func wait() -> Result<[UInt8], RPCError> {
        semaphore!.wait()
        return result!
    }
}
