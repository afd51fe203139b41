import Dispatch
import Support
import Synchronization

/// A fixed set of named threads running blocking work (password hashing, database calls) from
/// a bounded queue. A full queue refuses work at once; nothing waits without bound. Every job
/// accepted is called exactly once: with `.run` on a worker, or with `.drop` when the pool
/// shuts down before a worker took it (so whoever waits for it is told).
package final class WorkerPool: Sendable {
    /// Whether a job runs or is dropped by `shutdown`.
    package enum Disposition: Sendable, Equatable { case run, drop }
    package typealias Job = @Sendable (Disposition) -> Void

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

    /// `threadCount` workers named `name-0`, `name-1` …, and room for `capacity` waiting jobs.
    package init(threadCount: Int, capacity: Int, name: String = "rpc-worker") {
        self.capacity = capacity
        var started: [OSThread] = []
        for i in 0..<max(1, threadCount) {
            started.append(OSThread(name: "\(name)-\(i)") { [self] in self.work() })
        }
        threads.withLock { $0 = started }
    }

    /// Queues `job`; false when the queue is full or the pool stopped (the job is not called).
    package func submit(_ job: @escaping Job) -> Bool {
        let accepted = queue.withLock { q -> Bool in
            guard !q.stopped, q.count < capacity else { return false }
            q.jobs.append(job)
            return true
        }
        if accepted { available.signal() }
        return accepted
    }

    /// Jobs waiting (not running).
    package var queuedCount: Int { queue.withLock { $0.count } }
    /// Jobs running now.
    package var runningCount: Int { running.load(ordering: .relaxed) }

    /// Refuses new jobs, lets running ones finish, joins the threads, then calls each waiting job
    /// with `.drop`. A second call returns at once.
    package func shutdown() {
        let toJoin = threads.withLock { t -> [OSThread] in
            defer { t = [] }
            return t
        }
        let dropped = queue.withLock { q -> [Job] in
            q.stopped = true
            defer { q.jobs = []; q.head = 0 }
            return q.jobs[q.head...].compactMap { $0 }
        }
        for _ in toJoin { available.signal() }
        for t in toJoin { t.join() }
        for job in dropped { job(.drop) }
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
            job(.run)
            running.subtract(1, ordering: .relaxed)
        }
    }
}
