import Metrics
import RPCCore

/// Calls counted by wire protocol, method and status code, and a duration histogram per method,
/// in sharded counters (`ShardedCounters`): a call adds to memory of its own thread, with no
/// lock and no allocation. The dispatcher counts every call it starts, on every transport.
///
/// Durations: a blocking call is timed from `start` (queue wait included) to its reply. An inline
/// call reads the clock for one call in `inlineSampling` per thread, and that observation counts
/// `inlineSampling` times, so the histogram's rate and quantiles hold without a clock read on
/// each Validate. Calls are timed with `MonotonicClock` (a plain integer), not
/// `ContinuousClock.Instant`, whose resilient layout costs runtime calls even when unsampled.
public final class CallMetrics: Sendable {
    /// Upper bounds of the duration buckets, in seconds (+Inf is implied).
    public static let bucketBounds: [Double] = [
        0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01,
        0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]
    /// One inline call in this many, per thread, is timed (a power of two).
    public static let inlineSampling = 16

    private static let codes = StatusCode.allCases.count
    private static let protocols = WireProtocol.allCases
    private let methodNames: [String]
    /// `methodNames.count`, kept apart so counting a call touches no array.
    private let methodCount: Int
    private let counters: ShardedCounters
    private let boundsNanos: [Int]
    // Slot layout: [protocol][method][code] counts, then per method: buckets (+Inf last), the sum
    // in nanoseconds; then the sampling sequence.
    private let histogramBase: Int
    private let bucketsPerMethod: Int
    private let sampleSlot: Int

    /// Counters for the methods of `table` (by `MethodTable.Entry.index`).
    public init(methods table: MethodTable) {
        methodNames = table.namesByIndex
        methodCount = methodNames.count
        let methods = max(1, methodNames.count)
        histogramBase = Self.protocols.count * methods * Self.codes
        bucketsPerMethod = Self.bucketBounds.count + 2
        sampleSlot = histogramBase + methods * bucketsPerMethod
        counters = ShardedCounters(slots: sampleSlot + 1)
        boundsNanos = Self.bucketBounds.map { Int($0 * 1e9) }
        assert(Self.protocols.indices.allSatisfy { Self.index(of: Self.protocols[$0]) == $0 })
    }

    /// The position of `wire` in `protocols`, without a search on each call.
    @inline(__always)
    private static func index(of wire: WireProtocol) -> Int {
        switch wire {
        case .authrpc: 0
        case .grpc: 1
        case .inProcess: 2
        }
    }

    /// The slot counting calls of method `method` over protocol `p` (an index in `protocols`) that ended with `code`.
    @inline(__always)
    private func callSlot(protocol p: Int, method: Int, code: StatusCode) -> Int {
        (p * methodCount + method) * Self.codes + Int(code.rawValue)
    }

    /// Whether the calling thread should time this inline call (true one time in `inlineSampling`).
    @inline(__always)
    func shouldSampleInline() -> Bool {
        counters.bumpApproximately(at: sampleSlot) & (Self.inlineSampling - 1) == 0
    }

    /// Counts one finished call.
    @inline(__always)
    func count(method: Int, protocol wire: WireProtocol, code: StatusCode) {
        counters.add(1, at: callSlot(protocol: Self.index(of: wire), method: method, code: code))
    }

    /// Records a duration of `nanoseconds`, weighing `weight` calls.
    func observe(method: Int, nanoseconds: Int, weight: Int = 1) {
        var bucket = 0
        while bucket < boundsNanos.count && nanoseconds > boundsNanos[bucket] { bucket += 1 }
        let base = histogramBase + method * bucketsPerMethod
        counters.add(weight, at: base + bucket, nanoseconds &* weight, at: base + bucketsPerMethod - 1)
    }

    /// Calls counted so far for one method, protocol and code (tests, summaries).
    public func calls(method: String, protocol wire: WireProtocol, code: StatusCode) -> Int {
        guard let m = methodNames.firstIndex(of: method) else { return 0 }
        return counters.sum(at: callSlot(protocol: Self.index(of: wire), method: m, code: code))
    }

    /// Appends `authd_rpc_requests_total{protocol,method,code}` and
    /// `authd_rpc_duration_seconds{method}`; series never used are left out.
    public func write(to text: inout MetricsText) {
        text.family("authd_rpc_requests_total", type: .counter,
                    help: "RPC calls finished, by wire protocol, method and status code.")
        for (p, wire) in Self.protocols.enumerated() {
            for (m, method) in methodNames.enumerated() {
                for code in StatusCode.allCases {
                    let n = counters.sum(at: callSlot(protocol: p, method: m, code: code))
                    guard n > 0 else { continue }
                    text.sample("authd_rpc_requests_total",
                                labels: ["protocol": wire.rawValue, "method": method, "code": code.description], value: n)
                }
            }
        }
        text.family("authd_rpc_duration_seconds", type: .histogram,
                    help: "RPC call duration in seconds, by method (inline calls sampled, see docs/observability.md).",
                    unit: "seconds")
        for (m, method) in methodNames.enumerated() {
            let base = histogramBase + m * bucketsPerMethod
            var cumulative = 0
            for b in 0..<(Self.bucketBounds.count + 1) { cumulative += counters.sum(at: base + b) }
            guard cumulative > 0 else { continue }
            var running = 0
            for (b, bound) in Self.bucketBounds.enumerated() {
                running += counters.sum(at: base + b)
                text.sample("authd_rpc_duration_seconds_bucket", labels: ["method": method, "le": MetricsText.number(bound)],
                            value: running)
            }
            text.sample("authd_rpc_duration_seconds_bucket", labels: ["method": method, "le": "+Inf"], value: cumulative)
            text.sample("authd_rpc_duration_seconds_sum", labels: ["method": method],
                        value: Double(counters.sum(at: base + bucketsPerMethod - 1)) / 1e9)
            text.sample("authd_rpc_duration_seconds_count", labels: ["method": method], value: cumulative)
        }
    }
}
