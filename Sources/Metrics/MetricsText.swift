/// Writes metrics in the Prometheus text exposition format (version 0.0.4), or in OpenMetrics 1.0
/// text when the scraper asked for it: families with `# HELP` and `# TYPE`, samples with escaped
/// label values, `# EOF` at the end of OpenMetrics.
///
/// ```swift
/// var text = MetricsText(format: .prometheus)
/// text.family("authd_overloaded_total", type: .counter, help: "Calls refused for overload.")
/// text.sample("authd_overloaded_total", value: 3)
/// let body = text.finish()
/// ```
public struct MetricsText: Sendable {
    /// The exposition format.
    public enum Format: Sendable {
        case prometheus
        case openMetrics

        /// The Content-Type of a response in this format.
        public var contentType: String {
            switch self {
            case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
            case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }

        /// OpenMetrics when an HTTP `Accept` header asks for it, else the Prometheus text format.
        public static func negotiated(accept: String?) -> Format {
            accept?.contains("application/openmetrics-text") == true ? .openMetrics : .prometheus
        }
    }

    /// A metric family's type.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram, info
    }

    public let format: Format
    private var out: String = ""

    public init(format: Format) {
        self.format = format
        out.reserveCapacity(16 << 10)
    }

    /// Starts a family. `name` is the sample name as written: counters end in `_total`, which
    /// OpenMetrics leaves off the family name; an info family's samples end in `_info`.
    public mutating func family(_ name: String, type: Kind, help: String, unit: String? = nil) {
        var familyName = name
        if format == .openMetrics {
            if type == .counter, name.hasSuffix("_total") { familyName = String(name.dropLast(6)) }
            if type == .info, name.hasSuffix("_info") { familyName = String(name.dropLast(5)) }
        }
        let typeText = format == .prometheus && type == .info ? "gauge" : type.rawValue
        out += "# HELP \(familyName) \(Self.escapeHelp(help))\n# TYPE \(familyName) \(typeText)\n"
        if format == .openMetrics, let unit { out += "# UNIT \(familyName) \(unit)\n" }
    }

    /// One sample: `name{label="value",…} value`.
    public mutating func sample(_ name: String, labels: KeyValuePairs<String, String> = [:], value: Double) {
        out += name
        if !labels.isEmpty {
            out += "{"
            var first = true
            for (key, text) in labels {
                if !first { out += "," }
                first = false
                out += key
                out += "=\""
                out += Self.escapeLabel(text)
                out += "\""
            }
            out += "}"
        }
        out += " "
        out += Self.number(value)
        out += "\n"
    }

    /// A sample with an integer value.
    public mutating func sample(_ name: String, labels: KeyValuePairs<String, String> = [:], value: Int) {
        sample(name, labels: labels, value: Double(value))
    }

    /// The text, ended as the format requires.
    public mutating func finish() -> String {
        if format == .openMetrics { out += "# EOF\n" }
        return out
    }

    /// A number as the formats write it: integers without a fraction, `+Inf`, `NaN`.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escapeLabel(_ text: String) -> String {
        guard text.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return text }
        var escaped = ""
        for c in text {
            switch c {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(c)
            }
        }
        return escaped
    }

    /// HELP text: backslash and line feed escaped.
    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
