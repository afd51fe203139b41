import Synchronization

/// The flag a transport raises when the caller gives up on a queued call (a CANCEL frame, a
/// cancelled task, a client-side timeout): a worker that takes the call afterwards skips its
/// handler. A call already running is not interrupted; its reply is dropped by the transport.
public final class CallCancellation: Sendable, Equatable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    /// Marks the call cancelled; idempotent, from any thread.
    public func cancel() { flag.store(true, ordering: .releasing) }

    public var isCancelled: Bool { flag.load(ordering: .acquiring) }

    /// The same handle.
    public static func == (lhs: CallCancellation, rhs: CallCancellation) -> Bool { lhs === rhs }
}
