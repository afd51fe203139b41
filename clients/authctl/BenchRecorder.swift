import Foundation
import Histogram

/// What one load-generating worker saw: latencies (µs) in an HDR histogram, outcomes by status
/// name, and a few sample error messages. Each worker owns one; they are merged at the end.
struct BenchRecorder {
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000,
                                    numberOfSignificantValueDigits: .three)
    var codes: [String: Int] = [:]
    var sampleErrors: [String] = []

    mutating func record(microseconds: UInt64, code: String, error: String? = nil) {
        _ = latency.record(max(1, min(microseconds, 60_000_000)))
        codes[code, default: 0] += 1
        if let error, sampleErrors.count < 5, !sampleErrors.contains(error) { sampleErrors.append(error) }
    }

    mutating func merge(_ other: BenchRecorder) {
        latency.add(other.latency)
        for (code, count) in other.codes { codes[code, default: 0] += count }
        for error in other.sampleErrors where sampleErrors.count < 5 && !sampleErrors.contains(error) {
            sampleErrors.append(error)
        }
    }
}

/// CPU time this process has used (user + system), in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}

/// The summary of a bench run, printed as text or as one JSON object.
struct BenchSummary {
    var scenario: String
    var recorder: BenchRecorder
    var durationSeconds: Double
    var clientCPUSeconds: Double
    var connections: Int
    var concurrency: Int
    var targetRate: Int?

    var count: UInt64 { recorder.latency.totalCount }
    var rate: Double { durationSeconds > 0 ? Double(count) / durationSeconds : 0 }

    private func percentile(_ p: Double) -> UInt64 { count == 0 ? 0 : recorder.latency.valueAtPercentile(p) }

    var json: JSONValue {
        let h = recorder.latency
        var fields: [(String, JSONValue)] = [
            ("scenario", .string(scenario)),
            ("count", .int(Int64(count))),
            ("duration_s", .double(durationSeconds)),
            ("rate", .double(rate)),
            ("connections", .int(Int64(connections))),
            ("concurrency", .int(Int64(concurrency))),
            ("latency_us", .object([
                ("min", .int(Int64(count == 0 ? 0 : h.min))),
                ("mean", .double(count == 0 ? 0 : h.mean)),
                ("p50", .int(Int64(percentile(50)))),
                ("p90", .int(Int64(percentile(90)))),
                ("p99", .int(Int64(percentile(99)))),
                ("p999", .int(Int64(percentile(99.9)))),
                ("max", .int(Int64(count == 0 ? 0 : h.max))),
            ])),
            ("codes", .object(recorder.codes.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })),
            ("errors", .array(recorder.sampleErrors.map { .string($0) })),
            ("client_cpu_s", .double(clientCPUSeconds)),
            ("client_cpu_us_per_call", .double(count == 0 ? 0 : clientCPUSeconds * 1e6 / Double(count))),
        ]
        if let targetRate { fields.insert(("target_rate", .int(Int64(targetRate))), at: 6) }
        return .object(fields)
    }

    var text: [String] {
        let h = recorder.latency
        var lines = [
            "Summary (\(scenario), \(connections) connection(s), \(concurrency) in flight\(targetRate.map { ", open loop at \($0)/s" } ?? ", closed loop")):",
            String(format: "  Count:        %llu", count),
            String(format: "  Duration:     %.2f s", durationSeconds),
            String(format: "  Rate:         %.0f calls/s", rate),
            String(format: "  Client CPU:   %.2f s (%.1f µs a call, %.0f%% of one core)", clientCPUSeconds,
                   count == 0 ? 0 : clientCPUSeconds * 1e6 / Double(count),
                   durationSeconds > 0 ? 100 * clientCPUSeconds / durationSeconds : 0),
            "",
            "Latency (µs):",
            "  min \(count == 0 ? 0 : h.min)   mean \(String(format: "%.1f", count == 0 ? 0 : h.mean))   p50 \(percentile(50))   p90 \(percentile(90))   p99 \(percentile(99))   p99.9 \(percentile(99.9))   max \(count == 0 ? 0 : h.max)",
            "",
            "Latency histogram:",
        ]
        lines += histogramLines()
        lines.append("")
        lines.append("Status codes:")
        for (code, n) in recorder.codes.sorted(by: { $0.value > $1.value }) {
            lines.append("  \(code): \(n)")
        }
        if !recorder.sampleErrors.isEmpty {
            lines.append("")
            lines.append("Sample errors:")
            for e in recorder.sampleErrors { lines.append("  \(e)") }
        }
        return lines
    }

    /// Ten bars between min and the p99.9 value (the slowest 0.1% go in the last bar).
    private func histogramLines() -> [String] {
        guard count > 0 else { return ["  (no calls)"] }
        let low = recorder.latency.min
        let high = max(percentile(99.9), low + 10)
        let step = max(1, (high - low) / 10)
        var buckets = [UInt64](repeating: 0, count: 10)
        for v in recorder.latency.recordedValues() {
            let i = min(9, Int((v.value - min(v.value, low)) / step))
            buckets[i] += v.count
        }
        let peak = max(1, buckets.max() ?? 1)
        return buckets.enumerated().map { i, n in
            let upper = i == 9 ? "" : String(low + step * UInt64(i + 1))
            let bar = String(repeating: "■", count: Int(40 * n / peak))
            let label = upper.isEmpty ? "max" : upper
            return "  " + String(repeating: " ", count: max(0, 8 - label.count)) + label
                + String(format: " [%8llu] |", n) + bar
        }
    }
}
