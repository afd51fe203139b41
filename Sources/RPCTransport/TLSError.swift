import COpenSSL

/// A TLS failure, with OpenSSL's reason text drained from its error queue.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    /// What we were doing ("loading the certificate chain", "handshake").
    public var operation: String
    /// OpenSSL's reasons, oldest first (`"certificate verify failed"`).
    public var reasons: [String]

    public init(_ operation: String, reasons: [String]) {
        self.operation = operation
        self.reasons = reasons
    }

    /// An error for `operation` carrying everything now on this thread's OpenSSL error queue (which it empties).
    public static func drain(_ operation: String) -> TLSError {
        TLSError(operation, reasons: drainErrorQueue())
    }

    public var description: String {
        reasons.isEmpty ? "TLS: \(operation) failed" : "TLS: \(operation) failed: \(reasons.joined(separator: "; "))"
    }

    /// Empties this thread's OpenSSL error queue into readable reasons.
    static func drainErrorQueue() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reasons.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return reasons
    }
}
