import DevCertificates
import Foundation
import Glibc
import RPCCore
import Support
@testable import RPCTransport
import TestSupport
import XCTest

/// `RPCServer.reloadTLS()`: new handshakes get the files' new certificate, key and client CA;
/// open connections keep theirs; a failed reload changes nothing.
final class TLSReloadTests: XCTestCase {
    /// A CA, and the server's certificate, key and client-CA files in a folder of their own.
    struct Files {
        var ca: CertificateFactory.Issued
        var caFile: String
        var certificateFile: String
        var keyFile: String
        var clientCAFile: String

        init() throws {
            let directory = try TestEnvironment.makeTemporaryDirectory("tls-reload")
            ca = try CertificateFactory.makeAuthority(commonName: "reload test CA", days: 2)
            caFile = directory.appendingPathComponent("ca.pem").path
            certificateFile = directory.appendingPathComponent("server.pem").path
            keyFile = directory.appendingPathComponent("server.key").path
            clientCAFile = directory.appendingPathComponent("client-ca.pem").path
            try CertificateFactory.write(ca.certificatePEM, to: caFile, mode: 0o644)
        }

        /// Writes a new leaf for 127.0.0.1 named `name`, signed by the CA, over the server's files.
        @discardableResult
        func installServerCertificate(_ name: String) throws -> CertificateFactory.Issued {
            let leaf = try CertificateFactory.makeLeaf(commonName: name, subjectAltNames: ["IP:127.0.0.1"], authority: ca, days: 2)
            try CertificateFactory.write(leaf.certificatePEM, to: certificateFile, mode: 0o644)
            try CertificateFactory.write(leaf.privateKeyPEM, to: keyFile, mode: 0o600)
            return leaf
        }

        func serverConfiguration(clientCertificates: TLSConfiguration.ClientCertificates = .none) -> TLSConfiguration {
            .server(certificateChainFile: certificateFile, privateKeyFile: keyFile, clientCertificates: clientCertificates,
                    trustRootsFile: clientCertificates == .none ? nil : clientCAFile)
        }
    }

    private func startServer(_ tls: TLSConfiguration) throws -> RPCServer {
        let server = try RPCServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0, tls: tls, ioThreads: 2, workerThreads: 2),
                                   services: [EchoTestService()], logger: TestHarness.logger)
        try server.start()
        return server
    }

    private func client(_ server: RPCServer, files: Files, certificate: CertificateFactory.Issued? = nil) throws -> ClientConnection {
        var tls = TLSConfiguration.client(trustRootsFile: files.caFile)
        if let certificate {
            let directory = try TestEnvironment.makeTemporaryDirectory("tls-reload-client")
            tls.certificateChainFile = directory.appendingPathComponent("client.pem").path
            tls.privateKeyFile = directory.appendingPathComponent("client.key").path
            try CertificateFactory.write(certificate.certificatePEM, to: tls.certificateChainFile!, mode: 0o644)
            try CertificateFactory.write(certificate.privateKeyPEM, to: tls.privateKeyFile!, mode: 0o600)
        }
        return try ClientConnection(configuration: ClientConfiguration(
            host: "127.0.0.1", port: server.port, tls: tls, connectTimeout: .seconds(5), defaultTimeout: .seconds(5)))
    }

    private func echo(_ client: ClientConnection, _ bytes: [UInt8] = [1, 2, 3]) throws -> [UInt8] {
        try client.unary(EchoTestService.echo, request: bytes, options: CallOptions())
    }

    func testNewHandshakesPresentTheNewCertificateAndOpenConnectionsKeepWorking() throws {
        let files = try Files()
        try files.installServerCertificate("server one")
        let server = try startServer(files.serverConfiguration())
        defer { server.shutdown(grace: .seconds(1)) }
        let before = try TLSProbe.serverCertificate(port: server.port, caFile: files.caFile)
        XCTAssertEqual(before.subject, "/CN=server one")
        let open = try client(server, files: files)
        defer { open.close() }
        XCTAssertEqual(try echo(open), [1, 2, 3])

        try files.installServerCertificate("server two")
        let reload = try server.reloadTLS()
        XCTAssertTrue(reload.certificateChanged)
        XCTAssertEqual(reload.previousCertificate, before)
        XCTAssertEqual(reload.certificate?.subject, "/CN=server two")
        XCTAssertTrue(reload.description.contains(reload.certificate!.serial), reload.description)

        let after = try TLSProbe.serverCertificate(port: server.port, caFile: files.caFile)
        XCTAssertEqual(after.subject, "/CN=server two")
        XCTAssertEqual(after, reload.certificate)
        XCTAssertNotEqual(after.serial, before.serial)
        XCTAssertEqual(server.certificate, after)
        // The connection made before the reload still works; a new one does too.
        for i in 0..<20 { XCTAssertEqual(try echo(open, [UInt8(i)]), [UInt8(i)]) }
        let fresh = try client(server, files: files)
        defer { fresh.close() }
        XCTAssertEqual(try echo(fresh), [1, 2, 3])

        // The same files again: a reload that changes nothing says so.
        XCTAssertFalse(try server.reloadTLS().certificateChanged)
    }

    func testAFailedReloadChangesNothing() throws {
        let files = try Files()
        try files.installServerCertificate("server one")
        let server = try startServer(files.serverConfiguration())
        defer { server.shutdown(grace: .seconds(1)) }
        let before = try TLSProbe.serverCertificate(port: server.port, caFile: files.caFile)
        let good = (certificate: try String(contentsOfFile: files.certificateFile, encoding: .utf8),
                    key: try String(contentsOfFile: files.keyFile, encoding: .utf8))
        let other = try CertificateFactory.makeLeaf(commonName: "other", subjectAltNames: ["IP:127.0.0.1"], authority: files.ca, days: 2)

        let cases: [(String, String, () throws -> Void)] = [
            ("garbage certificate", "certificate chain", {
                try CertificateFactory.write("-----BEGIN CERTIFICATE-----\nnot base64\n", to: files.certificateFile, mode: 0o644)
            }),
            ("key of another certificate", "private key", {
                try CertificateFactory.write(other.certificatePEM, to: files.certificateFile, mode: 0o644)
                try CertificateFactory.write(good.key, to: files.keyFile, mode: 0o600)
            }),
            ("missing key", "private key", { try FileManager.default.removeItem(atPath: files.keyFile) }),
        ]
        for (name, operation, breakFiles) in cases {
            try breakFiles()
            XCTAssertThrowsError(try server.reloadTLS(), name) { error in
                let description = "\(error)"
                XCTAssertTrue(description.contains(operation), "\(name): \(description)")
                XCTAssertFalse(description.contains("PRIVATE KEY"), "\(name): \(description)")
            }
            XCTAssertEqual(try TLSProbe.serverCertificate(port: server.port, caFile: files.caFile), before, name)
            XCTAssertEqual(server.certificate, before, name)
            try CertificateFactory.write(good.certificate, to: files.certificateFile, mode: 0o644)
            try CertificateFactory.write(good.key, to: files.keyFile, mode: 0o600)
        }
        let client = try client(server, files: files)
        defer { client.close() }
        XCTAssertEqual(try echo(client), [1, 2, 3])
    }

    func testClientCAReload() throws {
        let files = try Files()
        try files.installServerCertificate("server")
        let oldClientCA = try CertificateFactory.makeAuthority(commonName: "old client CA", days: 2)
        let newClientCA = try CertificateFactory.makeAuthority(commonName: "new client CA", days: 2)
        try CertificateFactory.write(oldClientCA.certificatePEM, to: files.clientCAFile, mode: 0o644)
        let server = try startServer(files.serverConfiguration(clientCertificates: .required))
        defer { server.shutdown(grace: .seconds(1)) }
        func clientCertificate(_ ca: CertificateFactory.Issued, _ name: String) throws -> CertificateFactory.Issued {
            try CertificateFactory.makeLeaf(commonName: name, subjectAltNames: [], authority: ca, serverAuth: false, clientAuth: true, days: 2)
        }
        let oldClient = try client(server, files: files, certificate: try clientCertificate(oldClientCA, "old client"))
        defer { oldClient.close() }
        XCTAssertEqual(try echo(oldClient), [1, 2, 3])
        let refusedBefore = try client(server, files: files, certificate: try clientCertificate(newClientCA, "new client"))
        defer { refusedBefore.close() }
        XCTAssertThrowsError(try echo(refusedBefore)) { XCTAssertEqual(($0 as? RPCError)?.code, .unavailable, "\($0)") }

        try CertificateFactory.write(newClientCA.certificatePEM, to: files.clientCAFile, mode: 0o644)
        let reload = try server.reloadTLS()
        XCTAssertFalse(reload.certificateChanged)
        XCTAssertEqual(reload.clientCANames, 1)

        let acceptedAfter = try client(server, files: files, certificate: try clientCertificate(newClientCA, "new client"))
        defer { acceptedAfter.close() }
        XCTAssertEqual(try echo(acceptedAfter), [1, 2, 3])
        // The old CA's clients: the open connection keeps working, a new one is refused.
        XCTAssertEqual(try echo(oldClient), [1, 2, 3])
        let refusedAfter = try client(server, files: files, certificate: try clientCertificate(oldClientCA, "old client 2"))
        defer { refusedAfter.close() }
        XCTAssertThrowsError(try echo(refusedAfter)) { XCTAssertEqual(($0 as? RPCError)?.code, .unavailable, "\($0)") }
    }

    /// A connection accepted before a reload (its TLS session made from the old context) whose
    /// handshake runs after it, once the server no longer holds the old context: the session
    /// keeps what its handshake reads (certificate, ALPN list) alive.
    func testHandshakeBegunBeforeReloadsCompletesAfterThem() throws {
        let files = try Files()
        try files.installServerCertificate("server one")
        let server = try startServer(files.serverConfiguration())
        defer { server.shutdown(grace: .seconds(1)) }
        let accepted = server.statistics.connectionsAccepted
        let fd = try connectLoopback(port: server.port)
        defer { close(fd) }
        XCTAssertTrue(waitUntil { server.statistics.connectionsAccepted > accepted })
        try files.installServerCertificate("server two")
        try server.reloadTLS()
        try files.installServerCertificate("server three")
        try server.reloadTLS()
        let presented = try TLSProbe.serverCertificate(connected: fd, caFile: files.caFile)
        XCTAssertEqual(presented.subject, "/CN=server one")
        XCTAssertEqual(try TLSProbe.serverCertificate(port: server.port, caFile: files.caFile).subject, "/CN=server three")
    }

    /// SIGHUP calls the server's hangup handler and the server serves on; SIGTERM still stops it.
    func testHangupCallsTheHandlerAndServingGoesOn() throws {
        let server = try TestHarness.startServer()
        let hangups = Locked(0)
        server.shutdownOnSignals(grace: .seconds(2), onHangup: { hangups.withLock { $0 += 1 } })
        var tid: pthread_t?
        XCTAssertTrue(waitUntil { tid = server.signalWaiterThread; return tid != nil })
        guard let tid else { return }
        let client = try TestHarness.client(port: server.port)
        defer { client.close() }
        for expected in 1...2 {
            pthread_kill(tid, SIGHUP)
            XCTAssertTrue(waitUntil { hangups.withLock { $0 } == expected })
            XCTAssertEqual(try client.unary(EchoTestService.echo, request: [UInt8(expected)], options: CallOptions()), [UInt8(expected)])
        }
        pthread_kill(tid, SIGTERM)
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { server.waitUntilStopped(); stopped.signal() }
        XCTAssertEqual(stopped.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(hangups.withLock { $0 }, 2)
    }
}
