import ArgumentParser
import Foundation
import Logging
import RPCCore
import RPCTransport
import Synchronization
import TestSupport

/// Empty calls over TLS on loopback: the sequential round trip on one connection, then the
/// throughput with many calls in flight over a few connections. Server and client share the
/// machine's cores.
struct EmptyCallsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "empty-calls", abstract: "Empty RPC calls over TLS on loopback: latency, then throughput.")

    @Option(help: "Sequential calls on one connection.")
    var sequential = 20_000
    @Option(help: "Connections for the throughput run.")
    var connections = 4
    @Option(help: "Calls in flight on each connection.")
    var inFlight = 32
    @Option(help: "Seconds of the throughput run.")
    var seconds = 5.0

    func run() async throws {
        let server = try BenchServer.start(ioThreads: 2)
        defer { server.shutdown(grace: .seconds(1)) }

        // 1. Sequential round trips on one connection.
        let client = try BenchServer.client(port: server.port)
        defer { client.close() }
        var samples = try roundTrips(client, calls: sequential)
        samples.sort()
        let clock = ContinuousClock()
        func micros(_ d: Duration) -> String {
            String(format: "%.1f µs", Double(d.components.attoseconds) / 1e12 + Double(d.components.seconds) * 1e6)
        }
        print("sequential: \(sequential) empty calls on 1 connection: p50 \(micros(samples[samples.count / 2])), "
              + "p90 \(micros(samples[samples.count * 9 / 10])), p99 \(micros(samples[samples.count * 99 / 100]))")

        // 2. Throughput: `inFlight` calls in flight on each of `connections` connections.
        let clients = try (0..<connections).map { _ in try BenchServer.client(port: server.port) }
        defer { clients.forEach { $0.close() } }
        for c in clients { _ = try await c.unary(BenchServer.empty, request: [], options: CallOptions()) }
        let total = Counter()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        let cpuBefore = processCPUSeconds()
        let started = clock.now
        let inFlight = self.inFlight
        await withTaskGroup(of: Void.self) { group in
            for c in clients {
                for _ in 0..<inFlight {
                    group.addTask {
                        var n = 0
                        while clock.now < end {
                            _ = try? await c.unary(BenchServer.empty, request: [], options: CallOptions())
                            n += 1
                        }
                        total.value.add(n, ordering: .relaxed)
                    }
                }
            }
        }
        let elapsed = clock.now - started
        let cpu = processCPUSeconds() - cpuBefore
        let calls = total.value.load(ordering: .relaxed)
        let rate = Double(calls) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        print("throughput: \(connections) connections × \(inFlight) in flight: \(Int(rate)) calls/s "
              + "(\(calls) calls in \(micros(elapsed))); "
              + String(format: "%.1f µs CPU per call, client and server together", cpu * 1e6 / Double(max(1, calls))))
    }

    /// Blocking calls one after another from this thread (after 1,000 to warm up); the round trip of each.
    private func roundTrips(_ client: ClientConnection, calls: Int) throws -> [Duration] {
        for _ in 0..<1000 { _ = try client.unary(BenchServer.empty, request: [], options: CallOptions()) }
        let clock = ContinuousClock()
        var samples: [Duration] = []
        samples.reserveCapacity(calls)
        for _ in 0..<calls {
            let t0 = clock.now
            _ = try client.unary(BenchServer.empty, request: [], options: CallOptions())
            samples.append(clock.now - t0)
        }
        return samples
    }

    /// User + system CPU time of this process so far.
    private func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

/// The server's memory per idle TLS connection: a Python process (the virtualenv of
/// `scripts/test`) opens N connections (TLS handshake, preface, SETTINGS) and holds them idle;
/// the growth of this process's resident memory, divided by N, is the cost of one.
struct IdleConnectionsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle-connections", abstract: "Server memory per idle TLS connection.")

    @Option(help: "Idle connections to hold.")
    var count = 2000

    func run() throws {
        let python = try TestEnvironment.python()
        let certs = try TestCertificates.shared()
        let server = try BenchServer.start(ioThreads: 2)
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
        func rss() -> Int {
            let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
            return (Int(statm.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        /// Starts the holder for `n` connections and returns once they are all open.
        func hold(_ n: Int) throws -> (process: Process, input: Pipe) {
            let process = Process()
            process.executableURL = python
            process.arguments = ["-c", script, String(server.port), certs.caFile, String(n)]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            guard line.hasPrefix("ready") else { throw ValidationError("the Python holder did not get ready: \(line)") }
            return (process, input)
        }
        func release(_ holder: (process: Process, input: Pipe)) throws {
            try holder.input.fileHandleForWriting.close()
            holder.process.waitUntilExit()
        }
        // Warm up the allocator and the TLS paths with a few connections first. The pauses let the
        // server's I/O threads finish with the connections before memory is read (a measurement
        // settling, not a wait for an event).
        try release(try hold(50))
        Thread.sleep(forTimeInterval: 0.5)
        let before = rss()
        let holder = try hold(count)
        Thread.sleep(forTimeInterval: 0.5)
        let after = rss()
        try release(holder)
        print("idle connections: \(count) held, server RSS grew \((after - before) / 1024) KiB, "
              + "\((after - before) / count / 1024) KiB per connection")
    }
}

/// A server over TLS on loopback (certificates made at start) serving one empty method, and clients for it.
enum BenchServer {
    static let empty = MethodDescriptor(service: "authbench.v1.Bench", method: "Empty")

    /// The method table: `Empty` answers at once, on the I/O thread, with what it was sent.
    struct Service: RPCServiceProvider {
        var methods: [ServerMethod] {
            [ServerMethod(descriptor: BenchServer.empty, kind: .inline) { request, _ in request }]
        }
    }

    static func start(ioThreads: Int) throws -> RPCServer {
        let certs = try TestCertificates.shared()
        let tls = TLSConfiguration.server(certificateChainFile: certs.serverCertificateFile, privateKeyFile: certs.serverKeyFile,
                                          clientCertificates: .none, trustRootsFile: nil)
        var logger = Logger(label: "authbench")
        logger.logLevel = .critical
        var limits = ServerLimits()
        limits.maxConnectionsPerAddress = limits.maxConnections  // every benchmark client is on 127.0.0.1
        let server = try RPCServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0, tls: tls, ioThreads: ioThreads,
                                                                      workerThreads: 4, limits: limits),
                                   services: [Service()], logger: logger)
        try server.start()
        return server
    }

    static func client(port: Int) throws -> ClientConnection {
        let certs = try TestCertificates.shared()
        return try ClientConnection(configuration: ClientConfiguration(
            host: "127.0.0.1", port: port, tls: TLSConfiguration.client(trustRootsFile: certs.caFile),
            connectTimeout: .seconds(5), defaultTimeout: nil))
    }
}

/// A count the throughput tasks add to.
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
