/// Names one RPC method. On the wire a call names its method as `"<package>.<Service>/<Method>"`
/// (for example `"auth.v1.Auth/Login"`), which is `fullName`.
///
/// Two descriptors are equal when their full names are: `idempotency` describes the method, it
/// does not name it.
public struct MethodDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// The fully qualified service name, `"<package>.<Service>"` (just `"<Service>"` without a package).
    public var service: String
    /// The method's name as written in the schema (`"Login"`).
    public var method: String
    /// Whether a call may be repeated safely, from the schema's `option idempotency_level`.
    /// Clients that fail over (`BalancedClient`) retry a call that may have reached a server only
    /// when this says so.
    public var idempotency: Idempotency

    public init(service: String, method: String, idempotency: Idempotency = .unknown) {
        self.service = service
        self.method = method
        self.idempotency = idempotency
    }

    public var fullName: String { "\(service)/\(method)" }
    public var description: String { fullName }

    public static func == (a: MethodDescriptor, b: MethodDescriptor) -> Bool {
        a.service == b.service && a.method == b.method
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(service)
        hasher.combine(method)
    }
}

/// protobuf's `MethodOptions.IdempotencyLevel` (google/protobuf/descriptor.proto): what repeating
/// a call does. The raw values are protobuf's enum numbers.
public enum Idempotency: UInt8, Sendable, Hashable, CaseIterable {
    /// Not declared: the call may change state, so it is not repeated once it may have run.
    case unknown = 0
    /// The call changes nothing (a read): repeating it is harmless.
    case noSideEffects = 1
    /// The call may change state, but repeating it leaves the same state as one call.
    case idempotent = 2

    /// Whether a call that may already have been processed can be sent again.
    public var allowsRepeat: Bool { self != .unknown }
}
