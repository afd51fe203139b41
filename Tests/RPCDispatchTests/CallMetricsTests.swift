import Foundation
import Logging
import Metrics
import RPCCore
import RPCDispatch
import XCTest

/// The dispatcher counts every call it starts when `countCalls` is on: by protocol, method and
/// code; durations of blocking calls all, of inline calls one in `inlineSampling`, weighted.
final class CallMetricsTests: XCTestCase {
    private struct Service: RPCServiceProvider {
        static let echo = MethodDescriptor(service: "test.Svc", method: "Echo")
        static let missing = MethodDescriptor(service: "test.Svc", method: "Missing")
        var methods: [ServerMethod] {
            [ServerMethod(descriptor: Self.echo, kind: .inline) { bytes, _ in bytes },
             ServerMethod(descriptor: Self.missing, kind: .blocking) { _, _ in throw RPCError(.notFound, "no such thing") }]
        }
    }

    private var logger: Logger {
        var l = Logger(label: "call-metrics-test")
        l.logLevel = .critical
        return l
    }

    func testCallsAreCountedByProtocolMethodAndCode() throws {
        let dispatcher = Dispatcher(services: [Service()], workerThreads: 1, countCalls: true, logger: logger)
        defer { dispatcher.shutdown() }
        let metrics = try XCTUnwrap(dispatcher.callMetrics)
        let echo = try XCTUnwrap(dispatcher.methods.lookup("test.Svc/Echo"))
        let missing = try XCTUnwrap(dispatcher.methods.lookup("test.Svc/Missing"))
        for _ in 0..<320 {
            _ = dispatcher.start(echo, request: [1], context: ServerContext(), ifBlocking: { fatalError("inline") })
        }
        _ = dispatcher.start(echo, request: [], context: ServerContext(wireProtocol: .grpc), ifBlocking: { fatalError("inline") })
        for _ in 0..<2 {
            _ = dispatcher.start(echo, request: [], context: ServerContext(wireProtocol: .inProcess), ifBlocking: { fatalError("inline") })
        }
        let done = DispatchSemaphore(value: 0)
        _ = dispatcher.start(missing, request: [], context: ServerContext(), ifBlocking: {
            BlockingCompletion { reply in
                XCTAssertEqual(reply, .failure(.notFound, "no such thing"))
                done.signal()
            }
        })
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)

        XCTAssertEqual(metrics.calls(method: "test.Svc/Echo", protocol: .authrpc, code: .ok), 320)
        XCTAssertEqual(metrics.calls(method: "test.Svc/Echo", protocol: .grpc, code: .ok), 1)
        XCTAssertEqual(metrics.calls(method: "test.Svc/Echo", protocol: .inProcess, code: .ok), 2)
        XCTAssertEqual(metrics.calls(method: "test.Svc/Missing", protocol: .authrpc, code: .notFound), 1)
        XCTAssertEqual(metrics.calls(method: "test.Svc/Missing", protocol: .authrpc, code: .ok), 0)

        var text = MetricsText(format: .prometheus)
        metrics.write(to: &text)
        let body = text.finish()
        XCTAssertTrue(body.contains(#"authd_rpc_requests_total{protocol="grpc",method="test.Svc/Echo",code="OK"} 1"#), body)
        XCTAssertTrue(body.contains(#"authd_rpc_requests_total{protocol="in-process",method="test.Svc/Echo",code="OK"} 2"#), body)
        XCTAssertTrue(body.contains(#"authd_rpc_requests_total{protocol="authrpc",method="test.Svc/Missing",code="NOT_FOUND"} 1"#), body)
        XCTAssertTrue(body.contains(#"authd_rpc_duration_seconds_count{method="test.Svc/Missing"} 1"#), body)
        // 323 inline calls on this thread: 20 or 21 of them timed, each counting 16.
        let count = body.split(separator: "\n").first { $0.hasPrefix(#"authd_rpc_duration_seconds_count{method="test.Svc/Echo"}"#) }
        let sampled = Int(count?.split(separator: " ").last ?? "") ?? 0
        XCTAssertTrue([320, 336].contains(sampled), "sampled count \(sampled)")
        XCTAssertEqual(sampled % CallMetrics.inlineSampling, 0)
    }

    func testOffByDefault() {
        XCTAssertNil(Dispatcher(services: [Service()], workerThreads: 1, logger: logger).callMetrics)
    }
}
