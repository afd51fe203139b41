import Foundation
import RPCCore
import RPCTransport
import Synchronization

/// The `pipelined` bench engine: calls complete through `ClientConnection.start(_:request:options:onReply:)`,
/// whose callback runs on the connection's I/O thread. No thread of the generator's own sits between
/// a reply and the next call, so a call costs the generator about what the transport costs.
///
/// Closed loop: each connection gets its share of the `concurrency` slots (slot `w` on connection
/// `w % connections`); a slot's callback records the outcome and at once starts the slot's next call
/// on the same connection, which the I/O thread writes, batched with the others, before it sleeps.
///
/// Open loop (`rate`): one pacer thread sleeps (`clock_nanosleep`, absolute time) until the next
/// call's due time (but wakes at most every `minimumTick`) and starts every call that is due, the
/// calls of one wake-up on one connection, the next wake-up's on the next; latency counts from the
/// due time. At most `concurrency` calls are in flight: when that cap is reached the
/// pacer waits for a reply, and the wait shows as latency (and as `late` beyond 1 ms).
final class PipelinedEngine: Sendable {
    /// What one connection's calls record. Callbacks of a connection run on its I/O thread, one at a
    /// time, so the lock is uncontended; it is there because after a reconnect the old and the new
    /// connection's threads may both be finishing calls, and for the final merge.
    final class Lane: Sendable {
        let client: ClientConnection
        let recorder = Mutex(BenchRecorder())
        init(client: ClientConnection) { self.client = client }
    }

    /// One closed-loop worker: a chain of calls, one in flight at a time.
    private final class Slot: @unchecked Sendable {
        // @unchecked Sendable: the fields are written before the slot's call is started and read by
        // that call's callback; the transport's lock (taken to start the call and to complete it)
        // orders the two, and a slot never has two calls in flight.
        let worker: Int
        let lane: Lane
        var sequence = 0
        var due: UInt64 = 0
        var measured = false
        var onReply: (@Sendable (Result<[UInt8], RPCError>) -> Void)?

        init(worker: Int, lane: Lane) {
            self.worker = worker
            self.lane = lane
        }
    }

    private let runner: BenchRunner
    let lanes: [Lane]

    init(runner: BenchRunner) {
        self.runner = runner
        lanes = runner.clients.map(Lane.init)
    }

    /// Starts the run; `group` is left once every call is finished.
    func start(group: DispatchGroup) {
        if runner.plan.rate != nil {
            group.enter()
            let slots = DispatchSemaphore(value: runner.plan.concurrency)
            let thread = Thread { [self] in
                pace(slots: slots, group: group)
                group.leave()
            }
            thread.name = "bench-pacer"
            thread.stackSize = 256 * 1024
            thread.start()
            return
        }
        let slots = (0..<runner.plan.concurrency).map { Slot(worker: $0, lane: lanes[$0 % lanes.count]) }
        for slot in slots {
            // The closure is made once per slot (no allocation a call); it keeps the slot alive until
            // the chain ends, when `next` drops it.
            slot.onReply = { [self] result in
                let done = monotonicNanos()
                record(result, slot: slot, done: done)
                next(slot, group: group, now: done)
            }
            group.enter()
        }
        for slot in slots { next(slot, group: group, now: nil) }
    }

    /// Every lane's recorder, merged (once the run is over).
    var recorder: BenchRecorder {
        var merged = BenchRecorder()
        for lane in lanes { lane.recorder.withLock { merged.merge($0) } }
        return merged
    }

    private func record(_ result: Result<[UInt8], RPCError>, slot: Slot, done: UInt64) {
        let outcome = outcome(result)
        slot.lane.recorder.withLock {
            runner.record(outcome, due: slot.due, sent: slot.due, measured: slot.measured, done: done, into: &$0)
        }
    }

    private func outcome(_ result: Result<[UInt8], RPCError>) -> BenchScenario.Outcome {
        switch result {
        case .success(let reply): runner.scenario.outcome(reply)
        case .failure(let error): (error.code.name, error.message)
        }
    }

    /// Starts the slot's next call, or ends the chain. A call that cannot be sent is recorded as
    /// failed and the next one tried (as the other engines do).
    private func next(_ slot: Slot, group: DispatchGroup, now: UInt64?) {
        var now = now
        while let call = runner.nextCall(worker: slot.worker, sequence: slot.sequence, now: now) {
            slot.sequence += 1
            slot.due = call.due
            slot.measured = call.measured
            let (bytes, options) = runner.scenario.request(call.index)
            do {
                try slot.lane.client.start(runner.scenario.method, request: bytes, options: options, onReply: slot.onReply!)
                return
            } catch {
                let done = monotonicNanos()
                record(.failure(error), slot: slot, done: done)
                now = done
            }
        }
        slot.onReply = nil
        group.leave()
    }

    /// The open loop's pacer wakes at most this often: at high rates the calls due within one tick go
    /// out together on one connection (one wake-up of its I/O thread and one write for the batch,
    /// instead of one of each a call); below 1/tick calls a second every call is sent at its due time.
    /// Tried and dropped: letting reply callbacks start the calls that came due (no pacer wake-up at
    /// all). Calls then went out one reply batch at a time, in smaller batches, so the server woke
    /// more often: at 50,000/s the client went from 13.5 to 20 µs and authd from 9.0 to 13.6 µs of
    /// CPU a call. 200 µs ticks were no better than 100 µs at the tail.
    static let minimumTick: UInt64 = 100_000
    /// Calls started in a row on one connection before the pacer moves on to the next (when it is
    /// behind and does not sleep between calls).
    static let maximumBatch = 16

    /// The open loop's pacer thread: starts each call at its due time, at most `slots` in flight.
    private func pace(slots: DispatchSemaphore, group: DispatchGroup) {
        var sequence = 0
        var lastWake: UInt64 = 0
        var laneIndex = 0, batch = 0
        while let call = runner.nextCall(worker: 0, sequence: sequence) {
            if call.due > monotonicNanos() {
                let until = max(call.due, lastWake + Self.minimumTick)
                var ts = timespec(tv_sec: Int(until / 1_000_000_000), tv_nsec: Int(until % 1_000_000_000))
                while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
                lastWake = monotonicNanos()
                (laneIndex, batch) = ((laneIndex + 1) % lanes.count, 0)
            } else if batch == Self.maximumBatch {
                (laneIndex, batch) = ((laneIndex + 1) % lanes.count, 0)
            }
            batch += 1
            slots.wait()
            let sent = monotonicNanos()
            let lane = lanes[laneIndex]
            sequence += 1
            let (bytes, options) = runner.scenario.request(call.index)
            let (due, measured) = (call.due, call.measured)
            group.enter()
            do {
                try lane.client.start(runner.scenario.method, request: bytes, options: options) { [self] result in
                    let done = monotonicNanos()
                    let outcome = outcome(result)
                    lane.recorder.withLock {
                        runner.record(outcome, due: due, sent: sent, measured: measured, done: done, into: &$0)
                    }
                    slots.signal()
                    group.leave()
                }
            } catch {
                let done = monotonicNanos()
                lane.recorder.withLock {
                    runner.record((error.code.name, error.message), due: due, sent: sent, measured: measured, done: done, into: &$0)
                }
                slots.signal()
                group.leave()
            }
        }
    }
}
