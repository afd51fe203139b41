import AuthCore
import Foundation
@testable import MariaDBStore
import TestSupport
import XCTest

/// TCP to MariaDB with TLS: the server's certificate verified against the configured CA and its
/// name against the host; a wrong CA or a certificate for another name is refused. Against a
/// `PrivateMariaDB` of its own listening on 127.0.0.1 with a certificate from a test CA.
final class DatabaseTLSTests: XCTestCase {
    /// One server for the class (installing one takes seconds), and its CA; a second, unrelated CA.
    private struct Fixture {
        var server: PrivateMariaDB
        var tls: ServerTLSFiles
        var otherCA: String
        var directory: URL
    }

    nonisolated(unsafe) private static var fixture: Fixture?

    override class func setUp() {
        super.setUp()
        do {
            let directory = try TestEnvironment.makeTemporaryDirectory("dbtls")
            let tls = try ServerTLSFiles.make(in: directory, names: ["DNS:localhost", "IP:127.0.0.1"])
            let other = try ServerTLSFiles.make(in: directory, names: ["IP:127.0.0.1"], prefix: "other")
            let server = try PrivateMariaDB.create(tls: tls)
            fixture = Fixture(server: server, tls: tls, otherCA: other.caFile, directory: directory)
            try server.sql("CREATE DATABASE auth_tls")
        } catch {
            fixture = nil
            print("DatabaseTLSTests: no TLS MariaDB: \(error)")
        }
    }

    override class func tearDown() {
        fixture?.server.destroy()
        if let directory = fixture?.directory { try? FileManager.default.removeItem(at: directory) }
        fixture = nil
        super.tearDown()
    }

    private func fixtureOrFail() throws -> Fixture {
        try XCTUnwrap(Self.fixture, "the TLS MariaDB did not start (see the output above)")
    }

    private func configuration(_ f: Fixture, caFile: String?, host: String = "127.0.0.1") -> MariaDBConfiguration {
        var c = f.server.tcpSettings(database: "auth_tls", host: host).configuration
        c.tcpSecurity = caFile.map { .verifiedTLS(certificateAuthorityFile: $0) } ?? .plaintext
        return c
    }

    /// The TLS version of the session `configuration` opens ("" for plaintext).
    private func sessionTLSVersion(_ configuration: MariaDBConfiguration) throws -> String {
        let store = MariaDBStore(configuration: configuration)
        return try store.run { c in
            let value: String? = try c.execute("SHOW SESSION STATUS LIKE 'Ssl_version'").rows.first?["Value"]
            return value ?? ""
        }
    }

    func testTLSVerifiedAgainstTheRightCAWorks() throws {
        let f = try fixtureOrFail()
        let version = try sessionTLSVersion(configuration(f, caFile: f.tls.caFile))
        XCTAssertTrue(["TLSv1.2", "TLSv1.3"].contains(version), "the session is encrypted: \(version.debugDescription)")
        // What the store does on it: migrations.
        let store = MariaDBStore(configuration: configuration(f, caFile: f.tls.caFile))
        XCTAssertFalse(try store.migrate().isEmpty)
        // Without --db-tls-ca the same server is plaintext (what authd allows only on loopback).
        XCTAssertEqual(try sessionTLSVersion(configuration(f, caFile: nil)), "")
    }

    func testAServerCertificateFromAnotherCAIsRefused() throws {
        let f = try fixtureOrFail()
        assertRefused(configuration(f, caFile: f.otherCA), saying: "self-signed certificate in certificate chain")
    }

    func testACertificateNamingAnotherHostIsRefused() throws {
        let f = try fixtureOrFail()
        // The same CA, but a certificate for db.invalid only: swapped in and reloaded (FLUSH SSL).
        let directory = f.directory.appendingPathComponent("rename")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let wrongName = try ServerTLSFiles.make(in: directory, names: ["DNS:db.invalid"], signedBy: f.tls)
        let original = try [f.tls.certificateFile, f.tls.keyFile].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        func install(_ certificate: Data, _ key: Data) throws {
            try certificate.write(to: URL(fileURLWithPath: f.tls.certificateFile))
            try key.write(to: URL(fileURLWithPath: f.tls.keyFile))
            try f.server.sql("FLUSH SSL")
        }
        try install(try Data(contentsOf: URL(fileURLWithPath: wrongName.certificateFile)),
                    try Data(contentsOf: URL(fileURLWithPath: wrongName.keyFile)))
        defer { try? install(original[0], original[1]) }
        // Connector/C's words for a certificate that does not name the host (X509_check_host/_ip).
        assertRefused(configuration(f, caFile: f.tls.caFile), saying: "Validation of SSL server certificate failed")
    }

    private func assertRefused(_ configuration: MariaDBConfiguration, saying reason: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try sessionTLSVersion(configuration), file: file, line: line) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.kind, .unavailable, "\(error)", file: file, line: line)
            XCTAssertEqual((e?.cause as? MariaDBError)?.number, .sslConnectionError, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(reason), "\(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains(configuration.password), "no password in the error", file: file, line: line)
        }
    }

    /// Which endpoints count as local (plaintext allowed) and which as remote (authd wants TLS or
    /// --db-insecure). Names are not resolved.
    func testLocalAndRemoteEndpoints() {
        typealias E = MariaDBConfiguration.Endpoint
        for local in [E(socket: "/run/mysqld.sock"), E(), E(host: "127.0.0.1"), E(host: "127.3.4.5"), E(host: "localhost"),
                      E(host: "LOCALHOST"), E(host: "::1"), E(host: "::ffff:127.0.0.1")] {
            XCTAssertTrue(local.isLocal, "\(local)")
        }
        for remote in [E(host: "10.0.0.1"), E(host: "db1"), E(host: "db.example.com"), E(host: "::2"), E(host: "128.0.0.1"),
                       E(host: "localhost.example.com"), E(host: "0.0.0.0"), E(host: "::ffff:10.0.0.1"), E(host: "::")] {
            XCTAssertFalse(remote.isLocal, "\(remote)")
        }
        var c = MariaDBConfiguration(endpoints: [E(host: "127.0.0.1", port: 3306), E(host: "db2", port: 3306)],
                                     user: "auth", password: "", database: "auth")
        XCTAssertEqual(c.plaintextRemoteEndpoints, [E(host: "db2", port: 3306)])
        c.tcpSecurity = .verifiedTLS(certificateAuthorityFile: "/etc/ssl/db-ca.pem")
        XCTAssertEqual(c.plaintextRemoteEndpoints, [])
    }
}
