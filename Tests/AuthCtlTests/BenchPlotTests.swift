import Foundation
import TestSupport
import XCTest

/// `authctl bench --hdr-out/--plot` and `authctl bench plot`: the .hgrm file read back matches the
/// JSON summary's percentiles; the SVG renders (rsvg-convert) to a PNG of the chart's size. And a
/// real Prometheus scraping authd during a bench finds the Validate rate and the cache hit ratio.
final class BenchPlotTests: XCTestCase {
    func testHgrmMatchesTheSummaryAndPlotsRender() throws {
        let authd = try AuthdProcess.start()
        defer { authd.stop() }
        let ctl = try AuthCtlHarness(authd: authd)
        let dir = ctl.configHome
        let hgrm = dir.appendingPathComponent("a.hgrm").path, svg = dir.appendingPathComponent("a.svg").path
        let summary = try ctl.json(["bench", "--users", "4", "--requests", "3000", "--concurrency", "8", "--warmup", "0",
                                    "--hdr-out", hgrm, "--plot", svg], timeout: 60)
        let latency = try XCTUnwrap(summary["latency_us"] as? [String: Any])
        let rows = try hgrmRows(hgrm)
        XCTAssertEqual(rows.last?.count, 3000, "the last row's total count is every call")
        // The .hgrm's rows stand at HdrHistogram's percentile ticks (…, 98.4375, 99.0625, …), not at
        // every percentile: the summary's value must lie between the rows around its percentile.
        for (key, percentile) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)] {
            let expected = Double(try XCTUnwrap(latency[key] as? Int))
            let at = try XCTUnwrap(rows.firstIndex { $0.percentile * 100 >= percentile - 1e-9 })
            let above = rows[at].milliseconds * 1000, below = rows[max(0, at - 1)].milliseconds * 1000
            let slack = max(1, expected * 0.01)
            XCTAssertGreaterThanOrEqual(expected, below - slack, "\(key) in the .hgrm: \(below)…\(above) µs")
            XCTAssertLessThanOrEqual(expected, above + slack, "\(key) in the .hgrm: \(below)…\(above) µs")
            if rows[at].percentile * 100 < percentile + 1e-9 {
                XCTAssertEqual(above, expected, accuracy: slack, "\(key): a row stands exactly at it")
            }
        }
        try assertRenders(svg, dir: dir)

        let second = dir.appendingPathComponent("b.hgrm").path, compare = dir.appendingPathComponent("cmp.svg").path
        _ = try ctl.json(["bench", "health", "--requests", "500", "--warmup", "0", "--hdr-out", second], timeout: 60)
        let plotted = try ctl.run(["bench", "plot", hgrm, second, "-o", compare])
        XCTAssertEqual(plotted.status, 0, plotted.stderr)
        let text = try String(contentsOfFile: compare, encoding: .utf8)
        XCTAssertEqual(text.components(separatedBy: "<polyline").count - 1, 2, "one line per run")
        XCTAssertTrue(text.contains(">a</text>") && text.contains(">b</text>"), "the legend names the runs")
        try assertRenders(compare, dir: dir)

        let refused = try ctl.run(["bench", "plot", svg, "-o", compare])
        XCTAssertEqual(refused.status, 2, "an SVG is not an .hgrm: \(refused.stderr)")
    }

    func testPrometheusScrapesTheValidateRateAndCacheHitRatio() throws {
        let metricsPort = try freeLoopbackPort(), prometheusPort = try freeLoopbackPort()
        let authd = try AuthdProcess.start(arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        defer { authd.stop() }
        let dir = try TestEnvironment.makeTemporaryDirectory("prometheus")
        let config = dir.appendingPathComponent("prometheus.yml")
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: authd
                static_configs: [{targets: ["127.0.0.1:\(metricsPort)"]}]

            """.write(to: config, atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(config.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("data").path)",
                                "--web.listen-address=127.0.0.1:\(prometheusPort)", "--log.level=warn"]
        let log = dir.appendingPathComponent("prometheus.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        prometheus.standardError = try FileHandle(forWritingTo: log)
        prometheus.standardOutput = FileHandle.nullDevice
        try prometheus.run()
        defer { prometheus.terminate(); prometheus.waitUntilExit() }
        try waitUntil(timeout: .seconds(30), poll: .milliseconds(200)) {
            (try? httpGet(port: prometheusPort, "/-/ready").status) == 200
        }

        // 4 users' tokens at a constant 400 calls a second for 6 s: after the first sight of each
        // token, every Validate is a cache hit.
        let ctl = try AuthCtlHarness(authd: authd)
        let summary = try ctl.json(["bench", "validate", "--users", "4", "--rate", "400", "--duration", "6", "--warmup", "0"],
                                   timeout: 90)
        let end = Date().timeIntervalSince1970 - 1.5
        XCTAssertEqual(summary["count"] as? Int ?? 0, 2400, accuracy: 200)
        Thread.sleep(forTimeInterval: 2)  // the last scrapes in

        let rate = try query(prometheusPort,
                             #"sum(rate(authd_rpc_requests_total{method="auth.v1.Auth/Validate",code="OK"}[3s]))"#, at: end)
        XCTAssertEqual(rate, 400, accuracy: 120, "Validate calls a second, as Prometheus computes it")
        let ratio = try query(prometheusPort, "sum(authd_validate_cache_hits_total) / (sum(authd_validate_cache_hits_total) + sum(authd_validate_cache_misses_total))",
                              at: end)
        XCTAssertGreaterThan(ratio, 0.95, "cache hit ratio")
        XCTAssertLessThan(ratio, 1)
        let up = try query(prometheusPort, #"up{job="authd"}"#, at: end)
        XCTAssertEqual(up, 1, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// One instant query through Prometheus's HTTP API; its single value.
    private func query(_ port: Int, _ expression: String, at time: TimeInterval) throws -> Double {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: allowed)!
        let reply = try httpGet(port: port, "/api/v1/query?query=\(encoded)&time=\(String(format: "%.3f", time))")
        XCTAssertEqual(reply.status, 200, reply.body)
        let json = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any]
        let data = json?["data"] as? [String: Any]
        let result = data?["result"] as? [[String: Any]]
        guard let value = result?.first?["value"] as? [Any], let text = value.last as? String, let number = Double(text) else {
            throw TestSetupError("no value for \(expression): \(reply.body)")
        }
        return number
    }

    private func hgrmRows(_ path: String) throws -> [(milliseconds: Double, percentile: Double, count: Int)] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 3, let v = Double(f[0]), let p = Double(f[1]), let c = Int(f[2]) else { return nil }
            return (v, p, c)
        }
    }

    /// rsvg-convert accepts the SVG and makes a PNG of its declared size (900 x 540).
    private func assertRenders(_ svg: String, dir: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let png = dir.appendingPathComponent(UUID().uuidString + ".png").path
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/rsvg-convert"), ["-o", png, svg])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: png)))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG", file: file, line: line)
        func be32(_ i: Int) -> Int { bytes[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual(be32(16), 900, "width", file: file, line: line)
        XCTAssertEqual(be32(20), 540, "height", file: file, line: line)
    }
}
