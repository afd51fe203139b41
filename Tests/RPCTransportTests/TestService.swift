import Foundation
import Logging
import RPCCore
@testable import RPCTransport
import Synchronization
import TestSupport

/// The transport's test service (schema: Schema/echo.proto), as raw byte handlers. One place, so
/// it can be swapped for the generated Echo service later.
///
/// - `Echo` (inline): answers with the request's bytes.
/// - `Slow` (blocking): request = 4-byte big-endian milliseconds + anything; sleeps, answers with the request.
/// - `Fail` (inline): request = status code byte + UTF-8 message; fails with that status.
/// - `Metadata` (inline): answers `key=value` lines of the metadata it received, then the peer's certificate subject.
struct EchoTestService: RPCServiceProvider {
    static let echo = MethodDescriptor(service: "rpctest.v1.Echo", method: "Echo")
    static let slow = MethodDescriptor(service: "rpctest.v1.Echo", method: "Slow")
    static let fail = MethodDescriptor(service: "rpctest.v1.Echo", method: "Fail")
    static let metadata = MethodDescriptor(service: "rpctest.v1.Echo", method: "Metadata")
    /// How many `Slow` calls have begun running in this process: a test waits for it to pass the
    /// count it read before starting one (`waitUntil`) to know its call is in a handler.
    static let slowCallsStarted = Atomic<Int>(0)
    /// How many `Slow` calls have returned from their handler in this process.
    static let slowCallsFinished = Atomic<Int>(0)

    var methods: [ServerMethod] {
        [
            ServerMethod(descriptor: Self.echo, kind: .inline) { request, _ in request },
            ServerMethod(descriptor: Self.slow, kind: .blocking) { request, _ in
                Self.slowCallsStarted.add(1, ordering: .relaxed)
                let millis = request.count >= 4 ? Int(request[0]) << 24 | Int(request[1]) << 16 | Int(request[2]) << 8 | Int(request[3]) : 0
                usleep(UInt32(millis * 1000))
                Self.slowCallsFinished.add(1, ordering: .relaxed)
                return request
            },
            ServerMethod(descriptor: Self.fail, kind: .inline) { request, _ in
                let code = StatusCode(rawValue: request.first ?? 2) ?? .unknown
                throw RPCError(code == .ok ? .unknown : code, String(decoding: request.dropFirst(), as: UTF8.self))
            },
            ServerMethod(descriptor: Self.metadata, kind: .inline) { _, context in
                var lines = context.metadata.map { "\($0.key)=\($0.value)" }
                lines.append("subject=\(context.peerCertificateSubject ?? "")")
                return Array(lines.joined(separator: "\n").utf8)
            },
        ]
    }

    /// Waits until a `Slow` call started after `count` (a `slowCallsStarted` reading) is running.
    static func waitForSlowCall(after count: Int) -> Bool {
        waitUntil { slowCallsStarted.load(ordering: .relaxed) > count }
    }

    static func slowRequest(millis: Int, id: UInt32 = 0) -> [UInt8] {
        [UInt8(millis >> 24 & 0xFF), UInt8(millis >> 16 & 0xFF), UInt8(millis >> 8 & 0xFF), UInt8(millis & 0xFF),
         UInt8(id >> 24 & 0xFF), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)]
    }
}

/// A test-only control service: `rpctest.v1.Control/Shutdown` starts a graceful shutdown of the
/// server it is given (so an outside client, the Python tests, can trigger one mid-call).
final class ControlTestService: RPCServiceProvider, @unchecked Sendable {
    // @unchecked Sendable: `server` is set once, before any client is told the port, and only read afterwards.
    static let shutdown = MethodDescriptor(service: "rpctest.v1.Control", method: "Shutdown")
    weak var server: RPCServer?

    var methods: [ServerMethod] {
        [ServerMethod(descriptor: Self.shutdown, kind: .inline) { [weak self] _, _ in
            let server = self?.server
            Thread { server?.shutdown(grace: .seconds(5)) }.start()
            return []
        }]
    }
}

/// Starting test servers and clients over real TLS on loopback.
enum TestHarness {
    static var logger: Logger {
        var l = Logger(label: "rpc-test")
        l.logLevel = ProcessInfo.processInfo.environment["RPC_TEST_LOG"] != nil ? .debug : .critical
        return l
    }

    static func startServer(limits: ServerLimits = ServerLimits(), clientCertificates: TLSConfiguration.ClientCertificates = .none,
                            ioThreads: Int = 2, workerThreads: Int = 4, minimumVersion: TLSConfiguration.MinimumVersion = .tls13,
                            extraServices: [any RPCServiceProvider] = [], busyPoll: Duration? = nil) throws -> RPCServer {
        let certs = try TestCertificates.shared()
        let tls = TLSConfiguration.server(certificateChainFile: certs.serverCertificateFile, privateKeyFile: certs.serverKeyFile,
                                          clientCertificates: clientCertificates,
                                          trustRootsFile: clientCertificates == .none ? nil : certs.caFile,
                                          minimumVersion: minimumVersion)
        let server = try RPCServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0, tls: tls, ioThreads: ioThreads,
                                                                      workerThreads: workerThreads, limits: limits,
                                                                      busyPoll: busyPoll),
                                   services: [EchoTestService()] + extraServices, logger: logger)
        try server.start()
        return server
    }

    static func client(port: Int, host: String = "127.0.0.1", clientCertificate: Bool = false, rogue: Bool = false,
                       compression: Bool = true, defaultTimeout: Duration? = .seconds(20),
                       busyPoll: Duration? = nil) throws -> ClientConnection {
        let certs = try TestCertificates.shared()
        var tls = TLSConfiguration.client(trustRootsFile: certs.caFile)
        if clientCertificate {
            tls.certificateChainFile = rogue ? certs.rogueClientCertificateFile : certs.clientCertificateFile
            tls.privateKeyFile = rogue ? certs.rogueClientKeyFile : certs.clientKeyFile
        }
        return try ClientConnection(configuration: ClientConfiguration(host: host, port: port, tls: tls, connectTimeout: .seconds(5),
                                                                       defaultTimeout: defaultTimeout, compression: compression,
                                                                       busyPoll: busyPoll))
    }
}

/// A deliberately misbehaving TLS client for protocol tests: blocking socket, raw bytes in and out.
final class RawTLSClient: @unchecked Sendable {
    // @unchecked Sendable: tests use one instance from one thread at a time.
    let connection: TLSConnection

    init(port: Int, receiveBufferSize: Int32? = nil, maximumVersion: TLSConfiguration.MinimumVersion? = nil) throws {
        let certs = try TestCertificates.shared()
        var configuration = TLSConfiguration.client(trustRootsFile: certs.caFile, minimumVersion: .tls12)
        configuration.maximumVersion = maximumVersion
        let context = try TLSContext(configuration: configuration, isServer: false)
        // readUntilClosed polls with its own deadline: short reads.
        let fd = try connectLoopback(port: port, readTimeout: 0.1, writeTimeout: 5, receiveBufferSize: receiveBufferSize)
        connection = try TLSConnection(context: context, fd: fd, serverName: "127.0.0.1")
        for _ in 0..<50 where try connection.handshake() != .done(0) {}  // 100 ms read timeouts: up to 5 s
        guard try connection.handshake() == .done(0) else { throw TestSetupError("handshake did not complete") }
    }

    /// The preface and a SETTINGS frame, as a well-behaved client starts.
    func sendHello(compression: Bool = true) throws {
        var out = WireProtocol.preface
        let settings = ConnectionSettings(compression: compression ? ConnectionSettings.zlib : 0)
        FrameEncoder.append(Frame(type: .settings, payload: settings.encode()), to: &out)
        try send(out)
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let r = try bytes.withUnsafeBytes { try connection.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .done(let n) = r else { throw TestSetupError("write: \(r)") }
            offset += n
        }
    }

    /// Reads frames until the server closes or `timeout` passes; returns them and whether it closed.
    func readUntilClosed(timeout: Duration = .seconds(5)) -> (frames: [Frame], closed: Bool) {
        var decoder = FrameDecoder(maxFrameSize: 1 << 24, expectsPreface: false)
        var frames: [Frame] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let r = try? buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
            switch r {
            case .done(let n)?:
                decoder.append(Array(buffer[0..<n]))
                while let frame = try? decoder.next() { frames.append(frame) }
            case .closed?, nil:
                return (frames, true)
            default:
                continue
            }
        }
        return (frames, false)
    }
}
