import RPCCore

/// The outcome of one call, as a transport sends it back: the reply's bytes, or a status and a
/// message for the caller (never OK).
public enum CallReply: Sendable, Equatable {
    case success([UInt8])
    case failure(StatusCode, String)

    /// The bytes, or the failure as an `RPCError` (what a client transport returns or throws).
    public func get() throws(RPCError) -> [UInt8] {
        switch self {
        case .success(let bytes): return bytes
        case .failure(let code, let message): throw RPCError(code, message)
        }
    }

    /// The status the caller gets: OK for a success.
    public var code: StatusCode {
        switch self {
        case .success: .ok
        case .failure(let code, _): code
        }
    }
}
