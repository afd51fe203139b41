import CPthread
import Glibc

/// A joinable, named OS thread running a closure, with SIGPIPE, SIGINT and SIGTERM blocked in it
/// (writes to a closed socket return EPIPE instead of killing the process; shutdown signals
/// go to the thread that asked for them). The name shows in `top -H`, `gdb` and
/// `/proc/PID/task/TID/comm`; Linux keeps its first 15 bytes.
package final class OSThread: @unchecked Sendable {
    // @unchecked Sendable: `handle` is written once in init before the object is shared, then only read by join().
    private var handle = pthread_t()

    /// The longest thread name Linux keeps (16 bytes with the terminating zero).
    package static let maxNameLength = 15

    /// Starts a thread nobody joins: its resources go back when it ends.
    @discardableResult
    package static func detached(name: String, _ body: @escaping @Sendable () -> Void) -> OSThread {
        let thread = OSThread(name: name, body)
        // pthread_detach returns 0, or EINVAL/ESRCH for bugs of ours.
        pthread_detach(thread.handle)
        return thread
    }

    package init(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(name: Self.truncated(name), body: body)).toOpaque()
        // pthread_create returns 0 or EAGAIN (resource limits): we cannot run without our threads.
        let rc = pthread_create(&handle, nil, { arg in
            let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
            // The signals a server waits for on its own thread (RPCServer.shutdownOnSignals; SIGHUP: reload).
            OSThread.blockSignals([SIGPIPE, SIGINT, SIGTERM, SIGHUP])
            // pthread_setname_np returns 0, or ERANGE for a name over 15 bytes (cut to fit above).
            _ = CPthread_setname(pthread_self(), body.name)
            body.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Waits for the thread to end.
    package func join() {
        // pthread_join returns 0, or EDEADLK / EINVAL for bugs of ours.
        let rc = pthread_join(handle, nil)
        precondition(rc == 0, "pthread_join failed: \(rc)")
    }

    /// Sends `signal` to this thread (it must not have been joined yet).
    package func signal(_ signal: Int32) {
        // pthread_kill returns 0, or ESRCH for a thread that ended (still joinable: harmless), EINVAL for a bad signal.
        _ = pthread_kill(handle, signal)
    }

    /// Blocks `signals` in the calling thread (threads it creates later inherit the mask).
    package static func blockSignals(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// `name` cut to at most 15 bytes of UTF-8, at a character boundary.
    package static func truncated(_ name: String) -> String {
        var result = ""
        for character in name {
            guard result.utf8.count + character.utf8.count <= maxNameLength else { break }
            result.append(character)
        }
        return result
    }
}

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}
