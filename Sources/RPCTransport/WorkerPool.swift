import Dispatch
import RPCCore
import Support
import Synchronization

/// A fixed set of threads running blocking work (password hashing, database calls) from a
/// bounded queue. A full queue refuses work at once; nothing waits without bound.
final class WorkerPool: Sendable {
    typealias Job = @Sendable () -> Void

    private struct Queue {
        var jobs: [Job?] = []
        var head = 0
        var stopped = false
        var count: Int { jobs.count - head }
    }

    private let queue = Locked(Queue())
    private let available = DispatchSemaphore(value: 0)
    private let capacity: Int
    private let threads: Locked<[OSThread]> = Locked([])
    private let running = Atomic<Int>(0)

    /// `threadCount` workers and room for `capacity` waiting jobs.
    init(threadCount: Int, capacity: Int, name: String = "rpc-worker") {
        self.capacity = capacity
        var started: [OSThread] = []
        for i in 0..<max(1, threadCount) {
            started.append(OSThread(name: "\(name)-\(i)") { [self] in self.work() })
        }
        threads.withLock { $0 = started }
    }

    /// Queues `job`; false when the queue is full or the pool stopped.
    func submit(_ job: @escaping Job) -> Bool {
        let accepted = queue.withLock { q -> Bool in
            guard !q.stopped, q.count < capacity else { return false }
            q.jobs.append(job)
            return true
        }
        if accepted { available.signal() }
        return accepted
    }

    /// Jobs waiting (not running).
    var queuedCount: Int { queue.withLock { $0.count } }
    /// Jobs running now.
    var runningCount: Int { running.load(ordering: .relaxed) }

    /// Drops waiting jobs, lets running ones finish, and joins the threads.
    func shutdown() {
        let toJoin = threads.withLock { t -> [OSThread] in
            defer { t = [] }
            return t
        }
        queue.withLock { $0.stopped = true; $0.jobs = []; $0.head = 0 }
        for _ in toJoin { available.signal() }
        for t in toJoin { t.join() }
    }

    private func work() {
        while true {
            available.wait()
            let next = queue.withLock { q -> (Job?, Bool) in
                if q.stopped { return (nil, true) }
                guard q.count > 0 else { return (nil, false) }
                let job = q.jobs[q.head]
                q.jobs[q.head] = nil
                q.head += 1
                if q.head > 64 && q.head * 2 > q.jobs.count {
                    q.jobs.removeFirst(q.head)
                    q.head = 0
                }
                return (job, false)
            }
            if next.1 { return }
            guard let job = next.0 else { continue }
            running.add(1, ordering: .relaxed)
            job()
            running.subtract(1, ordering: .relaxed)
        }
    }
}
