import RPCDispatch

/// The transport's threads (I/O loops, the signal waiter, client sessions) are the dispatcher's
/// named `OSThread`s: one thread type for the whole server.
typealias OSThread = RPCDispatch.OSThread
