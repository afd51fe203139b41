import Foundation
import TestSupport
import XCTest

/// Short, bounded `authctl bench` runs against a real authd.
final class BenchTests: XCTestCase {
    func testBenchRunsEveryScenarioAndReportsJSON() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let tokens = ctl.configHome.appendingPathComponent("tokens.txt").path

        // Closed loop on validate: users created first, tokens saved for the next run.
        let validate = try ctl.json(["bench", "--users", "8", "--connections", "2", "--concurrency", "8",
                                     "--duration", "2", "--warmup", "0.3", "--save-tokens", tokens], timeout: 60)
        try checkSummary(validate, scenario: "validate")
        XCTAssertEqual(validate["engine"] as? String, "pipelined", "the default engine")
        XCTAssertEqual(try String(contentsOfFile: tokens, encoding: .utf8).split(separator: "\n").count, 8)

        // Open loop from the token file, a fixed number of calls.
        let open = try ctl.json(["bench", "validate", "--token-file", tokens, "--rate", "2000", "--requests", "1000",
                                 "--warmup", "0"], timeout: 60)
        try checkSummary(open, scenario: "validate")
        XCTAssertEqual(open["count"] as? Int, 1000)
        XCTAssertEqual(open["target_rate"] as? Int, 2000)
        XCTAssertNotNil(open["late"] as? Int)

        // The other scenarios, briefly, one with idle connections held open.
        for (scenario, extra) in [("health", ["--idle-connections", "20"]), ("status", ["--token-file", tokens, "--engine", "threads"]),
                                  ("login", ["--token-file", tokens, "--engine", "async"]), ("register", [])] {
            let summary = try ctl.json(["bench", scenario, "--requests", "40", "--concurrency", "4", "--warmup", "0"] + extra,
                                       timeout: 60)
            try checkSummary(summary, scenario: scenario)
            XCTAssertEqual(summary["count"] as? Int, 40, scenario)
        }

        // Text mode: the summary for people (no progress line when not on a terminal).
        let text = try ctl.run(["bench", "health", "--requests", "200", "--warmup", "0"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for part in ["Count:", "Rate:", "Client CPU:", "p99.9", "Latency histogram (µs", "Status codes:", "OK: 200"] {
            XCTAssertTrue(text.stdout.contains(part), "\(part) in \(text.stdout)")
        }
        XCTAssertEqual(text.stderr, "", "no progress line when standard error is not a terminal")
    }

    /// The pipelined engine (callbacks on the connections' I/O threads): closed loop with an uneven
    /// share of slots per connection, by count and by time, and open loop with a pacer, by count and
    /// by time, with fewer slots than the rate needs at once.
    func testPipelinedEngineClosedAndOpenLoop() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let tokens = ctl.configHome.appendingPathComponent("tokens.txt").path
        _ = try ctl.json(["bench", "--users", "4", "--requests", "10", "--warmup", "0", "--save-tokens", tokens], timeout: 60)

        let closed = try ctl.json(["bench", "--engine", "pipelined", "--token-file", tokens, "--connections", "3",
                                   "--concurrency", "10", "--requests", "3000", "--warmup", "0.2"], timeout: 60)
        try checkSummary(closed, scenario: "validate")
        XCTAssertEqual(closed["count"] as? Int, 3000)
        XCTAssertEqual(closed["engine"] as? String, "pipelined")
        XCTAssertGreaterThan(closed["client_cpu_us_per_call"] as? Double ?? 0, 0)

        let timed = try ctl.json(["bench", "health", "--engine", "pipelined", "--connections", "2", "--concurrency", "16",
                                  "--duration", "1", "--warmup", "0.2"], timeout: 60)
        try checkSummary(timed, scenario: "health")
        XCTAssertGreaterThanOrEqual(timed["calls_total"] as? Int ?? 0, timed["count"] as? Int ?? 1)

        let open = try ctl.json(["bench", "--engine", "pipelined", "--token-file", tokens, "--rate", "3000",
                                 "--requests", "1500", "--warmup", "0.1", "--connections", "2", "--concurrency", "8"], timeout: 60)
        try checkSummary(open, scenario: "validate")
        XCTAssertEqual(open["count"] as? Int, 1500)
        XCTAssertEqual(open["target_rate"] as? Int, 3000)
        XCTAssertNotNil(open["late"] as? Int)
        XCTAssertNotNil(open["max_lag_us"] as? Int)
        // Called at 3,000/s, 1,500 calls take at least half a second (paced, not as fast as possible).
        XCTAssertGreaterThanOrEqual(open["duration_s"] as? Double ?? 0, 0.49)
        XCTAssertLessThan(open["duration_s"] as? Double ?? 0, 10)

        let openTimed = try ctl.json(["bench", "health", "--rate", "2000", "--duration", "1", "--warmup", "0",
                                      "--concurrency", "2"], timeout: 60)
        try checkSummary(openTimed, scenario: "health")
        XCTAssertEqual(Double(openTimed["count"] as? Int ?? 0), 2000, accuracy: 100)

        let text = try ctl.run(["bench", "--help"])
        XCTAssertTrue(text.stdout.contains("pipelined"), text.stdout)
        // Engine and scenario are choices: the help lists them and ArgumentParser refuses others.
        let flowing = text.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for values in ["(values: pipelined, async, threads; default: pipelined)",
                       "(values: validate, login, status, health, register, service-token; default: validate)"] {
            XCTAssertTrue(flowing.contains(values), "\(values) missing from: \(text.stdout)")
        }
        for (arguments, wrong) in [(["bench", "--engine", "warp"], "'warp' is invalid for '--engine"),
                                   (["bench", "teleport"], "'teleport' is invalid for '<scenario>'")] {
            let refused = try ctl.json(arguments, expectStatus: 2)
            XCTAssertEqual(AuthCtlHarness.error(refused).code, "USAGE")
            XCTAssertTrue(AuthCtlHarness.error(refused).message?.contains(wrong) == true, "\(refused)")
        }
    }

    private func checkSummary(_ summary: [String: Any], scenario: String, file: StaticString = #filePath,
                              line: UInt = #line) throws {
        XCTAssertEqual(summary["scenario"] as? String, scenario, file: file, line: line)
        let count = try XCTUnwrap(summary["count"] as? Int, file: file, line: line)
        XCTAssertGreaterThan(count, 0, file: file, line: line)
        XCTAssertGreaterThan(summary["duration_s"] as? Double ?? 0, 0, file: file, line: line)
        XCTAssertGreaterThan(summary["rate"] as? Double ?? 0, 0, file: file, line: line)
        XCTAssertNotNil(summary["client_cpu_s"] as? Double, file: file, line: line)
        let latency = try XCTUnwrap(summary["latency_us"] as? [String: Any], file: file, line: line)
        for key in ["min", "mean", "p50", "p90", "p99", "p999", "max"] {
            XCTAssertNotNil(latency[key] as? NSNumber, key, file: file, line: line)
        }
        XCTAssertLessThanOrEqual((latency["p50"] as? Int) ?? 0, (latency["max"] as? Int) ?? 0, file: file, line: line)
        let codes = try XCTUnwrap(summary["codes"] as? [String: Int], file: file, line: line)
        XCTAssertEqual(codes, ["OK": count], "no unexpected errors: \(summary["errors"] ?? [])", file: file, line: line)
    }
}
