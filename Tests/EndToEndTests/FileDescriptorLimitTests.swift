import Foundation
import TestSupport
import XCTest

/// authd sizes its open-file limit (RLIMIT_NOFILE) for `--max-connections` at start: it raises
/// the soft limit up to the hard one, or refuses to start (status 78) naming the numbers. Run
/// under `prlimit` with lowered limits; no database needed (the check comes before it).
final class FileDescriptorLimitTests: XCTestCase {
    private func runUnderLimits(soft: Int, hard: Int, _ arguments: [String]) throws -> ProcessResult {
        let prlimit = URL(fileURLWithPath: "/usr/bin/prlimit")
        guard FileManager.default.isExecutableFile(atPath: prlimit.path) else { throw XCTSkip("no prlimit") }
        let m = try TestMaterial.make()
        defer { try? FileManager.default.removeItem(at: m.directory) }
        let env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTH_") && !$0.key.hasPrefix("AUTHD_") }
        return try ProcessRunner.run(prlimit, ["--nofile=\(soft):\(hard)", "--", try AuthdProcess.checkedBinary().path, "serve"]
                                         + m.serveArguments + arguments
                                         + ["--db-socket", "/nonexistent/db.sock", "--db-wait", "0", "--log-level", "info"],
                                     environment: env, timeout: 30)
    }

    /// Hard limit 512, 100,000 connections asked: refused with the numbers, not a start that
    /// would fail accepts (EMFILE) under load.
    func testRefusesToStartWhenTheHardLimitCannotHoldMaxConnections() throws {
        let result = try runUnderLimits(soft: 512, hard: 512, ["--max-connections", "100000"])
        XCTAssertEqual(result.status, 78, result.stderr)
        for text in ["--max-connections 100000", "RLIMIT_NOFILE", "512"] {
            XCTAssertTrue(result.stderr.contains(text), "expected \(text.debugDescription) in: \(result.stderr)")
        }
    }

    /// Soft limit 256 under a high hard one: raised to what 3,000 connections need; the start then
    /// goes on (and stops at the missing database, status 1).
    func testRaisesTheSoftLimitToWhatMaxConnectionsNeeds() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let hard = Int(limit.rlim_max)
        guard hard >= 4_000 else { throw XCTSkip("hard RLIMIT_NOFILE \(hard) too low for this test") }
        let result = try runUnderLimits(soft: 256, hard: hard, ["--max-connections", "3000"])
        XCTAssertEqual(result.status, 1, "past the limit step, stopped by the missing database: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("open-file limit raised"), result.stderr)
        let raisedTo = result.stderr.split(separator: "\n").first { $0.contains("open-file limit raised") }
            .flatMap { line in line.range(of: "to=").map { Int(line[$0.upperBound...].prefix { $0.isNumber }) } } ?? nil
        XCTAssertGreaterThan(try XCTUnwrap(raisedTo, result.stderr), 3_000)
    }
}
