import Synchronization

/// What a handler tells about the call it serves, for the access log: the user (or service) it
/// acted for. The dispatcher attaches one to `ServerContext.note` only while the access log is
/// on; a handler sets `subject` when it knows it (`context.note?.subject = "user:42"`), never a
/// token, password or other secret.
public final class CallNote: Sendable {
    private let value = Mutex<String?>(nil)

    public init() {}

    /// Who the call acted for, e.g. `user:42`; nil when unknown.
    public var subject: String? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

extension Metadata {
    /// The W3C Trace Context `traceparent` the caller sent, when it is well-formed
    /// (`00-<32 hex>-<16 hex>-<2 hex>`, lower case); anything else is ignored, so a log line
    /// never carries arbitrary caller text under this name.
    public var traceparent: String? {
        guard let value = self["traceparent"], value.utf8.count == 55 else { return nil }
        for (i, c) in value.utf8.enumerated() {
            let dash = i == 2 || i == 35 || i == 52
            if dash ? c != UInt8(ascii: "-") : !((48...57).contains(c) || (97...102).contains(c)) { return nil }
        }
        return value
    }
}
