import Logging
import RPCCore
import Support

/// One access-log line per call, written when the call's reply is known: protocol, method,
/// status code, duration, peer, the user or service it acted for (`CallNote`, the mTLS client
/// certificate's subject) and the caller's W3C `traceparent`. Never a token, password or
/// message body. The time and, with `--log-format json`, the JSON shape come from the log handler.
struct AccessLog: Sendable {
    let logger: Logger
    let method: String
    let wireProtocol: WireProtocol
    let peer: String
    let service: String?
    let traceparent: String?

    init(logger: Logger, method: String, context: ServerContext) {
        self.logger = logger
        self.method = method
        wireProtocol = context.wireProtocol
        peer = context.peer
        service = context.peerCertificateSubject
        traceparent = context.metadata.traceparent
    }

    /// Writes the line of a call that began at `began` (`MonotonicClock` nanoseconds).
    func write(_ code: StatusCode, began: Int64, subject: String?) {
        var metadata: Logger.Metadata = [
            "protocol": "\(wireProtocol.rawValue)", "method": "\(method)", "code": "\(code.name)",
            "duration_us": "\((MonotonicClock.nanoseconds() - began) / 1_000)", "peer": "\(peer)",
        ]
        if let subject { metadata["user"] = "\(subject)" }
        if let service { metadata["service"] = "\(service)" }
        if let traceparent { metadata["traceparent"] = "\(traceparent)" }
        logger.info("call", metadata: metadata)
    }
}
