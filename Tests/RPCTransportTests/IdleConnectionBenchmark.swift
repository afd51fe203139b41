import Foundation
import RPCCore
@testable import RPCTransport
import TestSupport
import XCTest

/// A measurement, not a test: the server's memory per idle TLS connection. Skipped unless RPC_BENCH=1.
///
///     RPC_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter IdleConnectionBenchmark
///
/// A Python process opens N connections (TLS handshake, preface, SETTINGS) and holds them idle;
/// the growth of this process's resident memory, divided by N, is the cost of one idle connection.
final class IdleConnectionBenchmark: XCTestCase {
    func testIdleConnectionMemory() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["RPC_BENCH"] == "1" else { throw XCTSkip("benchmark: set RPC_BENCH=1") }
        let count = Int(environment["RPC_BENCH_IDLE"] ?? "") ?? 2000
        let python = try TestEnvironment.python()
        let certs = try TestCertificates.shared()
        let server = try TestHarness.startServer()
        defer { server.shutdown(grace: .seconds(1)) }
        let script = """
            import socket, ssl, struct, sys
            ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.set_alpn_protocols(["authrpc/1"])
            hello = b"ARPC\\r\\n\\x01\\x00" + struct.pack(">IBBI", 24, 0, 0, 0) + struct.pack(">HIHIHIHI", 1, 4 << 20, 2, 4 << 20, 3, 0, 4, 1)
            conns = []
            for _ in range(int(sys.argv[3])):
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="127.0.0.1")
                s.sendall(hello); s.recv(64)
                conns.append(s)
            print("ready", flush=True)
            sys.stdin.read()
            """
        // Warm up allocator and TLS paths with a few connections first.
        func rss() -> Int {
            let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
            return (Int(statm.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        let warm = Process()
        warm.executableURL = python
        warm.arguments = ["-c", script, String(server.port), certs.caFile, "50"]
        let warmIn = Pipe(), warmOut = Pipe()
        warm.standardInput = warmIn
        warm.standardOutput = warmOut
        try warm.run()
        _ = warmOut.fileHandleForReading.availableData
        try warmIn.fileHandleForWriting.close()
        warm.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.5)

        let before = rss()
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", script, String(server.port), certs.caFile, String(count)]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertTrue(line.hasPrefix("ready"), line)
        Thread.sleep(forTimeInterval: 0.5)
        let after = rss()
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        print("idle connections: \(count) held, server RSS grew \((after - before) / 1024) KiB, "
              + "\((after - before) / count / 1024) KiB per connection")
    }
}
