import Foundation
@testable import RPCTransport
import TestSupport
import XCTest

/// authd's transport-limit settings: `serve --help` states the transport's own defaults, and a
/// started authd announces the configured frame and message limits in its SETTINGS.
final class TransportLimitSettingsTests: XCTestCase {
    func testHelpStatesTheTransportLimits() throws {
        let help = try AuthdCommandTests.serveHelp()
        let limits = ServerLimits()
        for (flag, value, variable) in [("--max-frame", limits.maxFrameSize, "AUTHD_MAX_FRAME"),
                                        ("--max-message", limits.maxDecompressedSize, "AUTHD_MAX_MESSAGE"),
                                        ("--max-blocking-calls", limits.maxBlockingCallsPerConnection, "AUTHD_MAX_BLOCKING_CALLS"),
                                        ("--max-queued-bytes", limits.maxQueuedRequestBytes, "AUTHD_MAX_QUEUED_BYTES"),
                                        ("--frame-timeout", Int(limits.frameTimeout / .seconds(1)), "AUTHD_FRAME_TIMEOUT"),
                                        ("--handshake-timeout", Int(limits.handshakeTimeout / .seconds(1)), "AUTHD_HANDSHAKE_TIMEOUT")] {
            let entry = try XCTUnwrap(help[flag], "\(flag) missing from serve --help")
            XCTAssertEqual(entry.defaultText, String(value), flag)
            XCTAssertEqual(entry.variable, variable, flag)
        }
        XCTAssertEqual(help["--max-frame"]?.defaultText, "65536")
        XCTAssertEqual(help["--max-message"]?.defaultText, "65536")
        XCTAssertEqual(help["--max-blocking-calls"]?.defaultText, "8")
    }

    func testConfiguredLimitsAreAnnouncedInSettings() throws {
        let authd = try AuthdProcess.start(arguments: ["--max-frame", "32768"], environment: ["AUTHD_MAX_MESSAGE": "16384"])
        defer { authd.stop() }
        let context = try TLSContext(configuration: .client(trustRootsFile: authd.caFile), isServer: false)
        let fd = try connectLoopback(port: authd.port)
        let tls = try TLSConnection(context: context, fd: fd, serverName: "127.0.0.1")
        XCTAssertEqual(try tls.handshake(), .done(0))
        var buffer = [UInt8](repeating: 0, count: 4096)
        var decoder = FrameDecoder(maxFrameSize: 1 << 20, expectsPreface: false)
        var settings: ConnectionSettings?
        for _ in 0..<5 where settings == nil {
            guard case .done(let n) = try buffer.withUnsafeMutableBytes({ try tls.read(into: $0) }) else { continue }
            decoder.append(Array(buffer[0..<n]))
            if let frame = try decoder.next(), frame.type == .settings { settings = try ConnectionSettings.decode(frame.payload) }
        }
        XCTAssertEqual(settings?.maxFrameSize, 32768)
        XCTAssertEqual(settings?.maxDecompressedSize, 16384)
        tls.shutdown()
    }
}
