import Foundation
import Metrics
import XCTest

final class ShardedCountersTests: XCTestCase {
    func testAddsFromManyThreadsAreAllCounted() {
        let counters = ShardedCounters(slots: 3, shards: 4)
        let threads = 8, perThread = 20_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<perThread {
                counters.add(1, at: 1)
                counters.add(2, at: 0, 3, at: 2)
            }
        }
        XCTAssertEqual(counters.sum(at: 1), threads * perThread)
        XCTAssertEqual(counters.sum(at: 0), 2 * threads * perThread)
        XCTAssertEqual(counters.sum(at: 2), 3 * threads * perThread)
        XCTAssertEqual(counters.shardCount, 4)
    }

    func testApproximateBumpsCountOneThreadExactly() {
        let counters = ShardedCounters(slots: 2)
        let sequence = (1...1000).map { _ in counters.bumpApproximately(at: 1) }
        XCTAssertEqual(sequence, Array(1...1000), "one thread: a plain sequence number")
        XCTAssertEqual(counters.sum(at: 1), 1000)
        XCTAssertEqual(counters.sum(at: 0), 0)
    }

    func testShardCountIsRoundedUpToAPowerOfTwo() {
        XCTAssertEqual(ShardedCounters(slots: 1, shards: 5).shardCount, 8)
    }
}

final class MetricsTextTests: XCTestCase {
    func testPrometheusTextFormat() {
        var text = MetricsText(format: .prometheus)
        text.family("x_requests_total", type: .counter, help: "Requests\\n.")
        text.sample("x_requests_total", labels: ["method": "a\"b\\c\nd", "code": "OK"], value: 3)
        text.family("x_build_info", type: .info, help: "Build.")
        text.sample("x_build_info", labels: ["version": "1"], value: 1)
        text.family("x_age_seconds", type: .gauge, help: "Age.", unit: "seconds")
        text.sample("x_age_seconds", value: 1.5)
        XCTAssertEqual(text.finish(), """
            # HELP x_requests_total Requests\\\\n.
            # TYPE x_requests_total counter
            x_requests_total{method="a\\"b\\\\c\\nd",code="OK"} 3
            # HELP x_build_info Build.
            # TYPE x_build_info gauge
            x_build_info{version="1"} 1
            # HELP x_age_seconds Age.
            # TYPE x_age_seconds gauge
            x_age_seconds 1.5

            """)
    }

    func testOpenMetricsNamesFamiliesWithoutSuffixesAndEnds() {
        var text = MetricsText(format: .openMetrics)
        text.family("x_requests_total", type: .counter, help: "Requests.")
        text.sample("x_requests_total", value: 1)
        text.family("x_build_info", type: .info, help: "Build.")
        text.sample("x_build_info", labels: ["version": "1"], value: 1)
        text.family("x_age_seconds", type: .gauge, help: "Age.", unit: "seconds")
        text.sample("x_age_seconds", value: .infinity)
        XCTAssertEqual(text.finish(), """
            # HELP x_requests Requests.
            # TYPE x_requests counter
            x_requests_total 1
            # HELP x_build Build.
            # TYPE x_build info
            x_build_info{version="1"} 1
            # HELP x_age_seconds Age.
            # TYPE x_age_seconds gauge
            # UNIT x_age_seconds seconds
            x_age_seconds +Inf
            # EOF

            """)
    }

    func testFormatNegotiation() {
        XCTAssertEqual(MetricsText.Format.negotiated(accept: nil).contentType, MetricsText.Format.prometheus.contentType)
        XCTAssertEqual(MetricsText.Format.negotiated(accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5").contentType,
                       MetricsText.Format.openMetrics.contentType)
    }

    func testProcessMetricsAreRead() {
        var text = MetricsText(format: .prometheus)
        ProcessMetrics.write(to: &text)
        let body = text.finish()
        for name in ["process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
                     "process_start_time_seconds ", "process_max_fds "] {
            XCTAssertTrue(body.contains("\n" + name), "missing \(name) in \(body)")
        }
        let start = body.split(separator: "\n").first { $0.hasPrefix("process_start_time_seconds ") }!
        let started = Double(start.split(separator: " ")[1])!
        XCTAssertEqual(started, Date().timeIntervalSince1970, accuracy: 3_600)
    }
}
