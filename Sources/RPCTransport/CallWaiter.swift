import Dispatch
import RPCCore

/// How a caller learns its reply: a blocked thread (semaphore), a suspended task (continuation), or
/// a callback run on the connection's I/O thread. Resumed exactly once: the client state machine
/// hands each waiter out once.
enum CallWaiter: Sendable {
    case thread(BlockedCaller)
    case task(CheckedContinuation<[UInt8], any Error>)
    case callback(@Sendable (Result<[UInt8], RPCError>) -> Void)

    func resume(_ result: Result<[UInt8], RPCError>) {
        switch self {
        case .thread(let caller): caller.resume(result)
        case .task(let continuation): continuation.resume(with: result.mapError { $0 as any Error })
        case .callback(let onReply): onReply(result)
        }
    }
}

/// A thread parked until its reply arrives.
final class BlockedCaller: @unchecked Sendable {
    // @unchecked Sendable: `result` is written once by the resuming thread before `semaphore.signal()`
    // and read by the waiting thread only after `semaphore.wait()` returns (a happens-before edge).
    private let semaphore = DispatchSemaphore(value: 0)
    private var result: Result<[UInt8], RPCError>?

    func resume(_ result: Result<[UInt8], RPCError>) {
        self.result = result
        semaphore.signal()
    }

    /// Blocks until resumed.
    func wait() -> Result<[UInt8], RPCError> {
        semaphore.wait()
        return result!
    }
}
