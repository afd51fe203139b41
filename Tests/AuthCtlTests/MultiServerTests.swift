import Foundation
import TestSupport
import XCTest

/// `--server a,b`: calls spread over two authd instances sharing one database, and keep working
/// when one of them stops.
final class MultiServerTests: XCTestCase {
    func testTwoServersAndOneStops() throws {
        let a = try AuthdProcess.start()
        defer { a.stop() }
        let b = try AuthdProcess.start(databaseName: a.databaseName, createDatabase: false, secret: a.secret)
        defer { b.stop(dropDatabase: false) }
        // Each test authd has its own CA: trust both.
        let bundle = a.directory.appendingPathComponent("both-ca.pem").path
        let pems = try String(contentsOfFile: a.caFile, encoding: .utf8) + String(contentsOfFile: b.caFile, encoding: .utf8)
        try pems.write(toFile: bundle, atomically: true, encoding: .utf8)
        let harness = try AuthCtlHarness(authd: a)
        let servers = ["--server", "\(a.host):\(a.port),\(b.host):\(b.port)", "--ca", bundle]

        let email = AuthCtlHarness.email("multi")
        let registered = try harness.json(["register", "--email", email, "--password-stdin"] + servers,
                                          input: AuthCtlHarness.password + "\n")
        XCTAssertNotNil(registered["token"] as? String)
        for _ in 0..<4 {  // round-robin: both instances answer
            let status = try harness.json(["status"] + servers)
            XCTAssertEqual(status["email"] as? String, email)
        }
        a.stop(dropDatabase: false)
        for _ in 0..<3 {  // A is gone: B answers every call
            let status = try harness.json(["status"] + servers)
            XCTAssertEqual(status["email"] as? String, email)
        }
    }
}
