/// Names one RPC method. On the wire a call names its method as `"<package>.<Service>/<Method>"`
/// (for example `"auth.v1.Auth/Login"`), which is `fullName`.
public struct MethodDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// The fully qualified service name, `"<package>.<Service>"` (just `"<Service>"` without a package).
    public var service: String
    /// The method's name as written in the schema (`"Login"`).
    public var method: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
    }

    public var fullName: String { "\(service)/\(method)" }
    public var description: String { fullName }
}
