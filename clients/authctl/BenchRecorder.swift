import Foundation
import Histogram

/// What one load-generating worker saw: latencies (µs) in an HDR histogram, outcomes by status
/// name, and a few sample error messages. Each worker owns one; they are merged at the end.
struct BenchRecorder {
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000,
                                    numberOfSignificantValueDigits: .three)
    /// Successful calls, and the others by status name (kept apart: the OK path touches no dictionary).
    var ok = 0
    var failures: [String: Int] = [:]
    var sampleErrors: [String] = []
    /// Monotonic time (ns) the last measured call finished.
    var lastDone: UInt64 = 0
    /// Open loop: calls sent more than 1 ms after their due time (the generator fell behind), and the worst lag.
    var late: Int = 0
    var maxLagMicroseconds: UInt64 = 0

    /// Outcomes by status name, OK included.
    var codes: [String: Int] {
        var all = failures
        if ok > 0 { all["OK", default: 0] += ok }
        return all
    }

    /// Records a success (`failure` nil) or a failure with its status name and message.
    mutating func record(microseconds: UInt64, failure: (code: String, message: String)?) {
        _ = latency.record(max(1, min(microseconds, 60_000_000)))
        guard let failure else {
            ok += 1
            return
        }
        failures[failure.code, default: 0] += 1
        let sample = "\(failure.code): \(failure.message)"
        if sampleErrors.count < 5, !sampleErrors.contains(sample) { sampleErrors.append(sample) }
    }

    mutating func merge(_ other: BenchRecorder) {
        latency.add(other.latency)
        lastDone = max(lastDone, other.lastDone)
        late += other.late
        maxLagMicroseconds = max(maxLagMicroseconds, other.maxLagMicroseconds)
        ok += other.ok
        for (code, count) in other.failures { failures[code, default: 0] += count }
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
    var engine: String = "pipelined"
    var idleConnections: Int = 0
    /// Every call made, warm-up included, and the whole run's wall time: client CPU is divided by these.
    var callsTotal: Int = 0
    var elapsedSeconds: Double = 0

    var count: UInt64 { recorder.latency.totalCount }
    var rate: Double { durationSeconds > 0 ? Double(count) / durationSeconds : 0 }

    /// authctl's CPU per call over the whole run (warm-up included).
    var cpuPerCall: Double {
        let calls = max(Int(count), callsTotal)
        return calls == 0 ? 0 : clientCPUSeconds * 1e6 / Double(calls)
    }

    private func percentile(_ p: Double) -> UInt64 { count == 0 ? 0 : recorder.latency.valueAtPercentile(p) }

    var jsonFields: [(String, JSONValue)] {
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
            ("calls_total", .int(Int64(max(Int(count), callsTotal)))),
            ("client_cpu_s", .double(clientCPUSeconds)),
            ("client_cpu_us_per_call", .double(cpuPerCall)),
            ("client_cpu_cores", .double(elapsedSeconds > 0 ? clientCPUSeconds / elapsedSeconds : 0)),
        ]
        fields.insert(("engine", .string(engine)), at: 6)
        if idleConnections > 0 { fields.append(("idle_connections", .int(Int64(idleConnections)))) }
        if let targetRate {
            fields.insert(("target_rate", .int(Int64(targetRate))), at: 6)
            fields.append(("late", .int(Int64(recorder.late))))
            fields.append(("max_lag_us", .int(Int64(recorder.maxLagMicroseconds))))
        }
        return fields
    }

    var text: [String] {
        let h = recorder.latency
        var lines = [
            "Summary (\(scenario), \(connections) connection(s), \(concurrency) in flight\(targetRate.map { ", open loop at \($0)/s" } ?? ", closed loop"), \(engine) engine\(idleConnections > 0 ? ", \(idleConnections) idle connections held" : "")):",
            String(format: "  Count:        %llu", count),
            String(format: "  Duration:     %.2f s", durationSeconds),
            String(format: "  Rate:         %.0f calls/s", rate),
            String(format: "  Client CPU:   %.2f s (%.1f µs a call, %.0f%% of one core; authctl's own load)", clientCPUSeconds,
                   cpuPerCall, elapsedSeconds > 0 ? 100 * clientCPUSeconds / elapsedSeconds : 0),
        ]
        if let targetRate {
            lines.append(recorder.late == 0
                ? "  Schedule:     every call sent within 1 ms of its due time (\(targetRate)/s)"
                : "  Schedule:     \(recorder.late) call(s) sent over 1 ms late, worst by \(recorder.maxLagMicroseconds) µs: the generator or the connection fell behind (latency counts from the due time)")
        }
        lines += [
            "",
            "Latency (µs)\(targetRate == nil ? "" : ", from each call's due time"):",
            "  min \(count == 0 ? 0 : h.min)   mean \(String(format: "%.1f", count == 0 ? 0 : h.mean))   p50 \(percentile(50))   p90 \(percentile(90))   p99 \(percentile(99))   p99.9 \(percentile(99.9))   max \(count == 0 ? 0 : h.max)",
            "",
            "Latency histogram (µs, each bar up to its label):",
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
