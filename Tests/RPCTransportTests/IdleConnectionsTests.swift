import Foundation
import RPCCore
@testable import RPCTransport
import Support
import TestSupport
import XCTest

/// `IdleConnections` against a real TLS server on loopback: what it holds, the server carries.
final class IdleConnectionsTests: XCTestCase {
    private func configuration(port: Int) throws -> ClientConfiguration {
        ClientConfiguration(host: "127.0.0.1", port: port, tls: .client(trustRootsFile: try TestCertificates.shared().caFile),
                            connectTimeout: .seconds(5))
    }

    /// Polls `condition` until it holds or `timeout` passes.
    private func eventually(_ timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
        let end = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < end else { return false }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return true
    }

    func testHeldConnectionsCountAgainstTheServerUntilClosed() throws {
        var limits = ServerLimits()
        limits.maxConnections = 5
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        let reported = Locked<[Int]>([])
        let idle = try IdleConnections.open(count: 5, configuration: try configuration(port: server.port), threads: 2,
                                            progress: { opened in reported.withLock { $0.append(opened) } })
        defer { idle.close() }
        XCTAssertEqual(idle.count, 5)
        XCTAssertEqual(reported.withLock { $0.sorted() }, [1, 2, 3, 4, 5])
        XCTAssertEqual(server.statistics.connectionsAccepted, 5, "each finished its handshake, so the server accepted it")

        // The server is at its limit while they are held: a client is refused.
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertThrowsError(try client.unary(EchoTestService.echo, request: [1], options: CallOptions())) { error in
            XCTAssertEqual((error as? RPCError)?.isConnectionFailure, true, "\(error)")
        }
        XCTAssertEqual(server.statistics.connectionsRefused, 1)

        idle.close()
        XCTAssertEqual(idle.count, 0)
        XCTAssertTrue(eventually { (try? client.unary(EchoTestService.echo, request: [2], options: CallOptions())) == [2] },
                      "the server dropped the closed connections and takes a client again")
        XCTAssertEqual(server.statistics.protocolErrors, 0, "the hello was a client's hello")
    }

    func testFailureClosesWhatWasOpenedAndSaysWhy() throws {
        var limits = ServerLimits()
        limits.maxConnections = 2
        let server = try TestHarness.startServer(limits: limits)
        defer { server.shutdown(grace: .seconds(1)) }
        XCTAssertThrowsError(try IdleConnections.open(count: 3, configuration: try configuration(port: server.port), threads: 1)) { error in
            XCTAssertEqual((error as? RPCError)?.isConnectionFailure, true, "\(error)")
            XCTAssertTrue((error as? RPCError)?.message.contains("idle connection 3 of 3") == true, "\(error)")
        }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        XCTAssertTrue(eventually { (try? client.unary(EchoTestService.echo, request: [1], options: CallOptions())) == [1] },
                      "the two that were opened are closed again")

        // Nothing listening: a connection failure, nothing held.
        let port = server.port
        server.shutdown(grace: .seconds(1))
        XCTAssertThrowsError(try IdleConnections.open(count: 2, configuration: try configuration(port: port))) { error in
            XCTAssertEqual((error as? RPCError)?.isConnectionFailure, true, "\(error)")
        }
    }

    func testUnreadableTrustRootsAreATLSError() {
        let configuration = ClientConfiguration(host: "127.0.0.1", port: 1, tls: .client(trustRootsFile: "/nonexistent/ca.pem"))
        XCTAssertThrowsError(try IdleConnections.open(count: 1, configuration: configuration)) { error in
            XCTAssertTrue(error is TLSError, "\(error)")
        }
    }

    /// The hello is the one a `ClientConnection` sends (PROTOCOL.md): preface, then SETTINGS with
    /// frame size and decompressed size 4 MiB, calls in flight not announced, zlib when compressing.
    func testHelloIsTheClientConnectionsHello() {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: 1, tls: .client(trustRootsFile: nil))
        let settingsHeader: [UInt8] = [0, 0, 0, 24, 0x00, 0, 0, 0, 0, 0]
        let sizes: [UInt8] = [0, 1, 0, 0x40, 0, 0, 0, 2, 0, 0x40, 0, 0, 0, 3, 0, 0, 0, 0]
        XCTAssertEqual(ClientConnector.hello(configuration), WireProtocol.preface + settingsHeader + sizes + [0, 4, 0, 0, 0, 1])
        configuration.compression = false
        XCTAssertEqual(ClientConnector.hello(configuration), WireProtocol.preface + settingsHeader + sizes + [0, 4, 0, 0, 0, 0])
    }
}
