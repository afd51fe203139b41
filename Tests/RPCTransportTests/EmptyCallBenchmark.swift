import Foundation
import RPCCore
@testable import RPCTransport
import Synchronization
import TestSupport
import XCTest

/// A benchmark, not a test: empty calls over TLS on loopback. Skipped unless RPC_BENCH=1.
///
///     RPC_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter EmptyCallBenchmark
///
/// Prints the sequential round-trip latency on one connection, and the throughput with many
/// calls in flight over a few connections. Server and client share the machine's cores.
final class EmptyCallBenchmark: XCTestCase {
    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    func testEmptyCalls() async throws {
        guard environment["RPC_BENCH"] == "1" else { throw XCTSkip("benchmark: set RPC_BENCH=1") }
        let sequentialCalls = Int(environment["RPC_BENCH_SEQUENTIAL"] ?? "") ?? 20_000
        let connections = Int(environment["RPC_BENCH_CONNECTIONS"] ?? "") ?? 4
        let inFlight = Int(environment["RPC_BENCH_IN_FLIGHT"] ?? "") ?? 32
        let seconds = Double(environment["RPC_BENCH_SECONDS"] ?? "") ?? 5

        let server = try TestHarness.startServer(ioThreads: 2)
        defer { server.shutdown(grace: .seconds(1)) }

        // 1. Sequential round trips on one connection.
        let client = try TestHarness.client(port: server.port, defaultTimeout: nil)
        defer { client.close() }
        var samples = try Self.sequential(client, calls: sequentialCalls)
        samples.sort()
        let clock = ContinuousClock()
        func micros(_ d: Duration) -> String {
            String(format: "%.1f µs", Double(d.components.attoseconds) / 1e12 + Double(d.components.seconds) * 1e6)
        }
        print("sequential: \(sequentialCalls) empty calls on 1 connection: p50 \(micros(samples[samples.count / 2])), "
              + "p90 \(micros(samples[samples.count * 9 / 10])), p99 \(micros(samples[samples.count * 99 / 100]))")

        // 2. Throughput: `inFlight` calls in flight on each of `connections` connections.
        let clients = try (0..<connections).map { _ in try TestHarness.client(port: server.port, defaultTimeout: nil) }
        defer { clients.forEach { $0.close() } }
        for c in clients { _ = try await c.unary(EchoTestService.echo, request: [], options: CallOptions()) }
        let total = Tally()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        let cpuBefore = Self.processCPUSeconds()
        let started = clock.now
        await withTaskGroup(of: Void.self) { group in
            for c in clients {
                for _ in 0..<inFlight {
                    group.addTask {
                        var n = 0
                        while clock.now < end {
                            _ = try? await c.unary(EchoTestService.echo, request: [], options: CallOptions())
                            n += 1
                        }
                        total.value.add(n, ordering: .relaxed)
                    }
                }
            }
        }
        let elapsed = clock.now - started
        let cpu = Self.processCPUSeconds() - cpuBefore
        let rate = Double(total.value.load(ordering: .relaxed)) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        print("throughput: \(connections) connections × \(inFlight) in flight: \(Int(rate)) calls/s "
              + "(\(total.value.load(ordering: .relaxed)) calls in \(micros(elapsed))); "
              + String(format: "%.1f µs CPU per call, client and server together", cpu * 1e6 / Double(max(1, total.value.load(ordering: .relaxed)))))
    }

    /// User + system CPU time of this process so far.
    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Blocking calls one after another from this thread; the round trip of each.
    private static func sequential(_ client: ClientConnection, calls: Int) throws -> [Duration] {
        for _ in 0..<1000 { _ = try client.unary(EchoTestService.echo, request: [], options: CallOptions()) }
        var samples: [Duration] = []
        samples.reserveCapacity(calls)
        let clock = ContinuousClock()
        for _ in 0..<calls {
            let t0 = clock.now
            _ = try client.unary(EchoTestService.echo, request: [], options: CallOptions())
            samples.append(clock.now - t0)
        }
        return samples
    }
}

private final class Tally: Sendable {
    let value = Atomic<Int>(0)
}
