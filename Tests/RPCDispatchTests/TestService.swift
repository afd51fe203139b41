import Dispatch
import Foundation
import RPCCore
import RPCDispatch
import Support

/// Counts handler invocations by method name, from any thread.
final class Counter: Sendable {
    private let counts = Locked<[String: Int]>([:])
    func add(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }
    subscript(_ key: String) -> Int { counts.withLock { $0[key] ?? 0 } }
}

/// A gate a blocking handler waits at, so a test can keep a worker busy for exactly as long as it wants.
final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func wait() { semaphore.wait() }
    func open(_ count: Int = 1) { for _ in 0..<count { semaphore.signal() } }
}

/// Raw byte handlers for dispatch tests:
/// - `Echo` (inline): the request; `Peer` (inline): `peer|deadline set|metadata lines`;
/// - `Thread` (inline and blocking variants): the name of the thread the handler ran on;
/// - `Held` (blocking): waits at the gate, then answers the request; `Counted` (blocking): counts, answers;
/// - `Sleep` (blocking): sleeps the request's first byte × 10 ms; `Fail` (inline): RPCError(NOT_FOUND "nope");
///   `Crash` (inline): a non-RPC error.
struct TestService: RPCServiceProvider {
    static let echo = MethodDescriptor(service: "test.v1.T", method: "Echo")
    static let peer = MethodDescriptor(service: "test.v1.T", method: "Peer")
    static let inlineThread = MethodDescriptor(service: "test.v1.T", method: "InlineThread")
    static let blockingThread = MethodDescriptor(service: "test.v1.T", method: "BlockingThread")
    static let held = MethodDescriptor(service: "test.v1.T", method: "Held")
    static let counted = MethodDescriptor(service: "test.v1.T", method: "Counted")
    static let sleep = MethodDescriptor(service: "test.v1.T", method: "Sleep")
    static let fail = MethodDescriptor(service: "test.v1.T", method: "Fail")
    static let crash = MethodDescriptor(service: "test.v1.T", method: "Crash")
    static let all = [echo, peer, inlineThread, blockingThread, held, counted, sleep, fail, crash]

    struct Secretive: Error { let detail = "a detail that must not reach the caller" }

    let counter: Counter
    var gate = Gate()

    var methods: [ServerMethod] {
        let counter = self.counter, gate = self.gate
        return [
            ServerMethod(descriptor: Self.echo, kind: .inline) { request, _ in request },
            ServerMethod(descriptor: Self.peer, kind: .inline) { _, context in
                let lines = [context.peer, context.deadline == nil ? "no deadline" : "deadline"]
                    + context.metadata.map { "\($0.key)=\($0.value)" }
                return Array(lines.joined(separator: "|").utf8)
            },
            ServerMethod(descriptor: Self.inlineThread, kind: .inline) { _, _ in Array(currentThreadName().utf8) },
            ServerMethod(descriptor: Self.blockingThread, kind: .blocking) { _, _ in Array(currentThreadName().utf8) },
            ServerMethod(descriptor: Self.held, kind: .blocking) { request, _ in
                counter.add("Held")
                gate.wait()
                return request
            },
            ServerMethod(descriptor: Self.counted, kind: .blocking) { request, _ in
                counter.add("Counted")
                return request
            },
            ServerMethod(descriptor: Self.sleep, kind: .blocking) { request, _ in
                counter.add("Sleep")
                usleep(UInt32(request.first ?? 0) * 10_000)
                return request
            },
            ServerMethod(descriptor: Self.fail, kind: .inline) { _, _ in throw RPCError(.notFound, "nope") },
            ServerMethod(descriptor: Self.crash, kind: .inline) { _, _ in throw Secretive() },
        ]
    }
}

/// The calling thread's name, as Linux shows it in /proc.
func currentThreadName() -> String {
    ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The names of this process's threads.
func processThreadNames() -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
        .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Polls `condition` every 5 ms for up to `timeout`; true once it holds.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}
