import ArgumentParser
import Foundation
import Logging
import RPCCore
import Support

/// How authd writes its log: human-readable text or one JSON object a line, on standard error.
enum LogFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    case text, json
}

/// The least severe log records authd writes (swift-log's levels, by their names).
enum LogLevel: String, CaseIterable, Sendable, ExpressibleByArgument {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}

/// Installs the process-wide log handler once, at start-up.
enum LogSetup {
    static func bootstrap(format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler
            switch format {
            case .text: handler = StreamLogHandler.standardError(label: label)
            case .json: handler = JSONLineLogHandler(label: label)
            }
            handler.logLevel = level
            return handler
        }
    }
}

/// Writes each record as one JSON object on a line of standard error:
/// `{"ts":"…","level":"info","label":"authd","msg":"…",<metadata>}`.
struct JSONLineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line = "{\"ts\":\(JSONText.quoted(Self.timestamp())),\"level\":\(JSONText.quoted(event.level.rawValue))"
        line += ",\"label\":\(JSONText.quoted(label)),\"msg\":\(JSONText.quoted(event.message.description))"
        for key in fields.keys.sorted() where !["ts", "level", "label", "msg"].contains(key) {
            line += ",\(JSONText.quoted(key)):\(JSONText.quoted(fields[key]!.description))"
        }
        line += "}\n"
        Self.lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        Self.lock.unlock()
    }

    private static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
