import ArgumentParser
import Foundation
import Histogram

/// One latency distribution as HdrHistogram's percentile-distribution text (`.hgrm`) holds it:
/// rows of value (milliseconds), percentile (0…1), total count.
struct LatencyDistribution: Equatable {
    struct Point: Equatable {
        var milliseconds: Double
        var percentile: Double
        var totalCount: Int
    }

    var name: String
    var points: [Point]

    /// The distribution of a bench run's histogram (recorded in microseconds).
    init(name: String, histogram: Histogram<UInt64>) {
        self.name = name
        var text = ""
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000)
        points = Self.parse(text)
    }

    /// Reads `.hgrm` text: the header line, the rows, and the `#[…]` footer (ignored).
    init(name: String, hgrm text: String) throws {
        self.name = name
        points = Self.parse(text)
        guard !points.isEmpty else { throw CLIError.usage("\(name): no percentile rows (not an HdrHistogram .hgrm file)") }
    }

    private static func parse(_ text: String) -> [Point] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 3, let value = Double(fields[0]), let percentile = Double(fields[1]),
                  let count = Int(fields[2]), (0...1).contains(percentile) else { return nil }
            return Point(milliseconds: value, percentile: percentile, totalCount: count)
        }
    }

    /// The smallest value at or above `percentile` (0…100), in milliseconds, as the rows give it.
    func value(atPercentile percentile: Double) -> Double {
        points.first { $0.percentile * 100 >= percentile - 1e-9 }?.milliseconds ?? (points.last?.milliseconds ?? 0)
    }
}

/// Writes the `.hgrm` text of a run (HdrHistogram's `outputPercentileDistribution`, values in ms).
func hgrmText(_ histogram: Histogram<UInt64>) -> String {
    var text = ""
    histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000)
    return text
}

/// Latency by percentile as an SVG chart, the way HdrHistogram's plotter draws it: the x axis is
/// 1/(1-percentile) on a log scale (labelled 0%, 90%, 99%, 99.9%, …), the y axis latency in ms.
enum LatencyPlot {
    static let width = 900, height = 540
    private static let left = 70.0, right = 45.0, top = 40.0, bottom = 60.0
    private static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    static func svg(_ series: [LatencyDistribution], title: String = "Latency by percentile") -> String {
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        // x: log10 of 1/(1-p), up to the decade past the highest finite percentile of any series.
        let finite = series.flatMap(\.points).map(\.percentile).filter { $0 < 1 }
        let maxX = max(2, (log10(1 / (1 - (finite.max() ?? 0.99)))).rounded(.up) + 1)
        let maxY = niceCeiling(series.flatMap(\.points).map(\.milliseconds).max() ?? 1)
        func x(_ p: Double) -> Double { left + min(log10(1 / max(1e-12, 1 - p)), maxX) / maxX * plotW }
        func y(_ ms: Double) -> Double { top + plotH - ms / maxY * plotH }
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Double(width) / 2)" y="22" text-anchor="middle" font-size="16">\(escape(title))</text>

            """
        for decade in 0...Int(maxX) {
            let p = 1 - pow(10, -Double(decade))
            let px = x(p)
            out += line(px, top, px, top + plotH, "#dddddd")
            out += text(px, top + plotH + 18, decade == 0 ? "0%" : percentLabel(p), anchor: "middle")
        }
        for i in 0...5 {
            let ms = maxY * Double(i) / 5
            out += line(left, y(ms), left + plotW, y(ms), "#dddddd")
            out += text(left - 6, y(ms) + 4, format(ms), anchor: "end")
        }
        out += line(left, top + plotH, left + plotW, top + plotH, "black") + line(left, top, left, top + plotH, "black")
        out += text(left + plotW / 2, Double(height) - 15, "Percentile", anchor: "middle")
        out += "<text x=\"18\" y=\"\(top + plotH / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(top + plotH / 2))\">Latency (milliseconds)</text>\n"
        for (i, s) in series.enumerated() {
            let color = colors[i % colors.count]
            let points = s.points.filter { $0.percentile < 1 }.map { "\(format(x($0.percentile))),\(format(y($0.milliseconds)))" }
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            let ly = top + 14 + Double(i) * 18
            out += line(left + 12, ly - 4, left + 36, ly - 4, color, width: 3)
            out += text(left + 42, ly, s.name, anchor: "start")
        }
        return out + "</svg>\n"
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ color: String, width: Int = 1) -> String {
        "<line x1=\"\(format(x1))\" y1=\"\(format(y1))\" x2=\"\(format(x2))\" y2=\"\(format(y2))\" stroke=\"\(color)\" stroke-width=\"\(width)\"/>\n"
    }

    private static func text(_ x: Double, _ y: Double, _ content: String, anchor: String) -> String {
        "<text x=\"\(format(x))\" y=\"\(format(y))\" text-anchor=\"\(anchor)\">\(escape(content))</text>\n"
    }

    /// 90%, 99%, 99.9%, … for 1 - 10^-n.
    private static func percentLabel(_ p: Double) -> String {
        var text = String(format: "%.10f", p * 100)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + "%"
    }

    /// 1, 2, 2.5 or 5 times a power of ten, at or above `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, (log10(value)).rounded(.down))
        return [1, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= value } ?? 10 * power
    }

    private static func format(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%.3f", v).replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// `authctl bench plot a.hgrm b.hgrm -o cmp.svg`: overlays runs saved with `--hdr-out`.
struct BenchPlot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw latency-by-percentile charts of runs saved with --hdr-out, overlaid, as SVG.",
        usage: "authctl bench plot <file> ... --output <output> [--title <title>]",
        discussion: "Example: authctl bench plot before.hgrm after.hgrm -o compare.svg")

    @Argument(help: ArgumentHelp("HdrHistogram percentile-distribution files (.hgrm).", valueName: "file"))
    var files: [String]
    @Option(name: [.short, .customLong("output")], help: "The SVG file to write.") var output: String
    @Option(help: "The chart's title.") var title: String = "Latency by percentile"

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one .hgrm file") }
    }

    func run() throws {
        let series = try files.map { path in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CLIError.local("cannot read \(path)") }
            return try LatencyDistribution(name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, hgrm: text)
        }
        try writeFile(output, LatencyPlot.svg(series, title: title))
    }
}

/// Writes `text` to `path` (mode 0644), or fails with exit status 1.
func writeFile(_ path: String, _ text: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]) else {
        throw CLIError.local("cannot write \(path)")
    }
}
