import ArgumentParser
import Foundation
import RPCCore
import RPCTransport
import Support
import Synchronization

/// How a bench run is paced and when it ends.
struct BenchPlan: Sendable {
    /// Calls in flight at most, in all.
    var concurrency: Int
    /// Length of the measured phase (nil with `requests`).
    var duration: Double?
    /// Measured calls to make (nil with `duration`).
    var requests: Int?
    /// Open loop: intended sends per second (nil: closed loop).
    var rate: Double?
    /// Seconds of calls made before measuring starts (not counted).
    var warmup: Double
    /// How calls wait for replies.
    var engine: BenchEngine
}

/// The load generator's threading model (see `BenchRunner`).
enum BenchEngine: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Calls started from the transport's reply callbacks on its I/O threads (`PipelinedEngine`): no
    /// thread of the generator's own between a reply and the next call.
    case pipelined
    /// `concurrency` Swift tasks on the cooperative pool, async calls (a reply resumes a continuation).
    case async
    /// `concurrency` threads, blocking calls (a reply wakes the parked thread).
    case threads
}

/// Monotonic clock in nanoseconds (vDSO, no system call).
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A shared counter.
final class AtomicCounter: Sendable {
    private let value = Atomic<Int>(0)
    /// Returns the current value and adds one.
    func next() -> Int { value.add(1, ordering: .relaxed).oldValue }
    func add(_ n: Int) { value.add(n, ordering: .relaxed) }
    var current: Int { value.load(ordering: .relaxed) }
}

/// Drives the calls of one bench run. Each worker (a callback chain, a task or a thread, `plan.engine`)
/// makes one call at a time on connection `worker % connections`, so `concurrency` calls are in flight
/// in all (the pipelined engine's open loop instead has one pacer starting calls, `PipelinedEngine`).
///
/// Closed loop: each worker calls again as soon as its reply is in; latency is reply − send.
/// Open loop (`rate`): call k is due at start + k/rate; a worker takes the next due call, waits
/// until its time if it is early, and latency is measured from the due time, so a server (or a
/// generator) that falls behind shows up as latency instead of disappearing (no coordinated
/// omission). Calls sent more than 1 ms after their due time are counted as `late`.
final class BenchRunner: Sendable {
    let plan: BenchPlan
    let scenario: BenchScenario
    let clients: [ClientConnection]
    /// Calls finished and failed so far (for the progress line), measured or not.
    let completed = AtomicCounter()
    let failed = AtomicCounter()
    private let tickets = AtomicCounter()
    private let runStart: UInt64
    private let measureStart: UInt64
    private let measureEnd: UInt64
    private let interval: Double
    private let warmupTickets: Int
    private let pacer: BenchPacer?

    init(plan: BenchPlan, scenario: BenchScenario, clients: [ClientConnection]) {
        self.plan = plan
        self.scenario = scenario
        self.clients = clients
        let start = monotonicNanos()
        var interval = 0.0, warmupTickets = 0, measureStart = start + UInt64(plan.warmup * 1e9)
        if let rate = plan.rate {
            interval = 1e9 / rate
            warmupTickets = Int(plan.warmup * rate)
            measureStart = start + UInt64(Double(warmupTickets) * interval)
        }
        runStart = start
        pacer = plan.rate != nil && plan.engine == .async ? BenchPacer() : nil
        self.interval = interval
        self.warmupTickets = warmupTickets
        self.measureStart = measureStart
        measureEnd = plan.duration.map { measureStart + UInt64($0 * 1e9) } ?? .max
    }

    /// The measured phase's start, for the summary's duration.
    var measuredFrom: UInt64 { measureStart }

    /// The next call a worker makes: its request index, due time, and whether it is measured; nil to stop.
    /// `now` (monotonic ns), when the caller has just read the clock.
    func nextCall(worker: Int, sequence: Int, now: UInt64? = nil) -> (index: Int, due: UInt64, measured: Bool)? {
        let index = sequence &* plan.concurrency &+ worker
        if plan.rate != nil {
            let t = tickets.next()
            let due = runStart + UInt64(Double(t) * interval)
            if let requests = plan.requests, t >= warmupTickets + requests { return nil }
            if due >= measureEnd { return nil }
            return (t, due, due >= measureStart)
        }
        let now = now ?? monotonicNanos()
        if now < measureStart { return (index, now, false) }
        if let requests = plan.requests, tickets.next() >= requests { return nil }
        if now >= measureEnd { return nil }
        return (index, now, true)
    }

    /// Counts a finished call and, when measured, records it; `done` is when it finished (monotonic ns).
    func record(_ outcome: BenchScenario.Outcome, due: UInt64, sent: UInt64, measured: Bool, done: UInt64 = monotonicNanos(),
                into recorder: inout BenchRecorder) {
        completed.add(1)
        if outcome != nil { failed.add(1) }
        guard measured else { return }
        recorder.record(microseconds: (done &- due) / 1000, failure: outcome)
        recorder.lastDone = max(recorder.lastDone, done)
        if plan.rate != nil && sent > due + 1_000_000 {
            recorder.late += 1
            recorder.maxLagMicroseconds = max(recorder.maxLagMicroseconds, (sent - due) / 1000)
        }
    }

    /// Runs every worker to the end and returns their merged recorder; `tick` is called on the
    /// calling thread about every `tickInterval` seconds meanwhile (for the progress line).
    func run(tickInterval: Double, tick: () -> Void) -> BenchRecorder {
        let merged = LockedRecorder()
        let group = DispatchGroup()
        var pipelined: PipelinedEngine?
        switch plan.engine {
        case .pipelined:
            pipelined = PipelinedEngine(runner: self)
            pipelined!.start(group: group)
        case .async:
            for w in 0..<plan.concurrency {
                group.enter()
                Task.detached { [self] in
                    let recorder = await asyncWorker(w)
                    merged.merge(recorder)
                    group.leave()
                }
            }
        case .threads:
            for w in 0..<plan.concurrency {
                group.enter()
                let thread = Thread { [self] in
                    let recorder = threadWorker(w)
                    merged.merge(recorder)
                    group.leave()
                }
                thread.stackSize = 256 * 1024
                thread.start()
            }
        }
        while group.wait(timeout: .now() + tickInterval) == .timedOut { tick() }
        pacer?.stop()
        if let pipelined { merged.merge(pipelined.recorder) }
        return merged.value
    }

    private func asyncWorker(_ w: Int) async -> BenchRecorder {
        var recorder = BenchRecorder()
        let client = clients[w % clients.count]
        var sequence = 0
        while let call = nextCall(worker: w, sequence: sequence) {
            sequence += 1
            var now = monotonicNanos()
            if call.due > now, let pacer {
                await pacer.wait(until: call.due)
                now = monotonicNanos()
            }
            let (bytes, options) = scenario.request(call.index)
            let outcome: BenchScenario.Outcome
            do {
                outcome = scenario.outcome(try await client.unary(scenario.method, request: bytes, options: options))
            } catch {
                outcome = BenchScenario.outcome(error)
            }
            record(outcome, due: call.due, sent: now, measured: call.measured, into: &recorder)
        }
        return recorder
    }

    private func threadWorker(_ w: Int) -> BenchRecorder {
        var recorder = BenchRecorder()
        let client = clients[w % clients.count]
        var sequence = 0
        while let call = nextCall(worker: w, sequence: sequence) {
            sequence += 1
            var now = monotonicNanos()
            if call.due > now {
                var ts = timespec(tv_sec: Int(call.due / 1_000_000_000), tv_nsec: Int(call.due % 1_000_000_000))
                while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
                now = monotonicNanos()
            }
            let (bytes, options) = scenario.request(call.index)
            let outcome: BenchScenario.Outcome
            do {
                outcome = scenario.outcome(try client.unary(scenario.method, request: bytes, options: options))
            } catch {
                outcome = BenchScenario.outcome(error)
            }
            record(outcome, due: call.due, sent: now, measured: call.measured, into: &recorder)
        }
        return recorder
    }
}

/// The recorders of finished workers, merged.
private final class LockedRecorder: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var recorder = BenchRecorder()
    func merge(_ other: BenchRecorder) { lock.withLock { recorder.merge(other) } }
    var value: BenchRecorder { lock.withLock { recorder } }
}

/// The first error of several threads.
final class FirstError: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var error: CLIError?
    func set(_ e: CLIError) { lock.withLock { if error == nil { error = e } } }
    var value: CLIError? { lock.withLock { error } }
}
