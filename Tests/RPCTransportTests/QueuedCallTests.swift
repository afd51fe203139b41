import Foundation
import RPCCore
@testable import RPCTransport
import Support
import XCTest

/// What happens to blocking calls waiting for a worker, over real TLS: a CANCEL skips them
/// (schema/PROTOCOL.md, CANCEL), and the server's threads carry names.
final class QueuedCallTests: XCTestCase {
    /// `Held` waits at a gate the test opens; `Counted` counts its invocations. Both blocking.
    final class GatedService: RPCServiceProvider, Sendable {
        static let held = MethodDescriptor(service: "rpctest.v1.Gated", method: "Held")
        static let counted = MethodDescriptor(service: "rpctest.v1.Gated", method: "Counted")
        private let gate = DispatchSemaphore(value: 0)
        private let invocations = Locked(0)

        var counted: Int { invocations.withLock { $0 } }
        func open() { gate.signal() }

        var methods: [ServerMethod] {
            [
                ServerMethod(descriptor: Self.held, kind: .blocking) { [self] request, _ in
                    gate.wait()
                    return request
                },
                ServerMethod(descriptor: Self.counted, kind: .blocking) { [self] request, _ in
                    invocations.withLock { $0 += 1 }
                    return request
                },
            ]
        }
    }

    private func eventually(_ condition: () -> Bool) -> Bool {
        let end = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < end {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }

    /// One worker kept busy, a second call queued behind it, the client cancels that call: its
    /// handler never runs, and the connection goes on serving.
    func testCancelSkipsAQueuedCall() async throws {
        let service = GatedService()
        let server = try TestHarness.startServer(workerThreads: 1, extraServices: [service])
        defer { server.shutdown(grace: .seconds(2)) }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        let held = Task.detached { try client.unary(GatedService.held, request: [1], options: CallOptions()) }
        XCTAssertTrue(eventually { server.workerPoolLoad == (1, 0) })
        let queued = Task { try await client.unary(GatedService.counted, request: [2], options: CallOptions()) }
        XCTAssertTrue(eventually { server.workerPoolLoad == (1, 1) })
        queued.cancel()
        do {
            _ = try await queued.value
            XCTFail("a cancelled call returned")
        } catch {
            XCTAssertEqual((error as? RPCError)?.code, .cancelled)
        }
        // Frames on a connection are handled in order: once this inline call is answered, the
        // server has seen the CANCEL sent before it.
        let echoed = try await client.unary(EchoTestService.echo, request: [7], options: CallOptions())
        XCTAssertEqual(echoed, [7])
        service.open()
        let heldReply = try await held.value
        XCTAssertEqual(heldReply, [1])
        XCTAssertTrue(eventually { server.workerPoolLoad == (0, 0) })
        XCTAssertEqual(service.counted, 0, "the cancelled call's handler never ran")
        let again = try await client.unary(GatedService.counted, request: [3], options: CallOptions())
        XCTAssertEqual(again, [3])
        XCTAssertEqual(service.counted, 1)
    }

    /// The I/O and worker threads are named, as /proc (and top -H, gdb) shows them.
    func testServerThreadsAreNamed() throws {
        let server = try TestHarness.startServer(ioThreads: 2, workerThreads: 2)
        defer { server.shutdown(grace: .seconds(1)) }
        let expected: Set<String> = ["rpc-io-0", "rpc-io-1", "rpc-worker-0", "rpc-worker-1"]
        XCTAssertTrue(eventually { expected.isSubset(of: Self.threadNames()) }, "\(Self.threadNames())")
    }

    private static func threadNames() -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return Set(tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
    }
}
