import Foundation
import RPCCore
import Support
import Synchronization

/// Releases open-loop workers at their calls' due times. One thread ticks (at most every 200 µs)
/// and resumes every waiting worker whose time has come, so a run at 50,000 calls/s costs a few
/// thousand timer wake-ups a second instead of one timer per call (`Task.sleep` per call cost
/// about 50 µs of CPU a call here).
final class BenchPacer: Sendable {
    private let waiting = Locked<[(due: UInt64, continuation: CheckedContinuation<Void, Never>)]>([])
    private let stopped = Atomic<Bool>(false)

    init() {
        let thread = Thread { [self] in tick() }
        thread.name = "bench-pacer"
        thread.stackSize = 128 * 1024
        thread.start()
    }

    /// Suspends until `due` (monotonic ns); returns at once when it has passed.
    func wait(until due: UInt64) async {
        guard due > monotonicNanos() else { return }
        await withCheckedContinuation { continuation in
            waiting.withLock { $0.append((due, continuation)) }
        }
    }

    /// Ends the ticking thread once nobody waits.
    func stop() { stopped.store(true, ordering: .releasing) }

    private func tick() {
        var ready: [CheckedContinuation<Void, Never>] = []
        while true {
            let now = monotonicNanos()
            let (next, empty) = waiting.withLock { list -> (UInt64?, Bool) in
                // Due times arrive nearly in order (tickets are taken in order); release the due prefix.
                var n = 0
                while n < list.count && list[n].due <= now { n += 1 }
                for i in 0..<n { ready.append(list[i].continuation) }
                list.removeFirst(n)
                return (list.first?.due, list.isEmpty)
            }
            for continuation in ready { continuation.resume() }
            ready.removeAll(keepingCapacity: true)
            if empty && stopped.load(ordering: .acquiring) { return }
            let until = min(next ?? .max, now + 200_000)
            var ts = timespec(tv_sec: Int(until / 1_000_000_000), tv_nsec: Int(until % 1_000_000_000))
            _ = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
        }
    }
}
