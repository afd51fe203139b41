/// Writes, per service, a namespace with the method descriptors (with their idempotency), the
/// handler protocol, the method table a server dispatches by, and a client (inside the namespace,
/// or as an extension of it in a file of its own).
struct SwiftServiceEmitter {
    let index: TypeIndex

    private func method(_ r: RPC) -> String { Naming.swiftIdentifier(Naming.lowerCamel(r.name)) }

    /// Whether generated code serves and calls the rpc: unary ones, and bidirectional streams
    /// served one reply per request message (`CallShape.replyPerMessage`). A stream in one
    /// direction only has a descriptor but no handler method, table entry or client call, so a
    /// server answers it UNIMPLEMENTED.
    static func isServed(_ r: RPC) -> Bool { r.clientStreaming == r.serverStreaming }
    private func docs(_ r: RPC) -> [String] { r.comments.isEmpty ? ["Calls `\(r.name)`."] : r.comments }

    /// The namespace; `withClient: false` leaves the client to `emitClientExtension`.
    func emit(_ s: Service, withClient: Bool, into w: inout CodeWriter) {
        let ns = index.topLevelName(s.name)
        w.comments(s.comments.isEmpty ? ["The `\(s.name)` service."] : s.comments)
        w.line("///")
        if withClient {
            w.line("/// Serve it with `\(ns).service(handler)`; call it with `\(ns).Client(transport:)`.")
        } else {
            w.line("/// Serve it with `\(ns).service(handler)`; clients call it with `\(ns).Client(transport:)`,")
            w.line("/// generated into a module of their own.")
        }
        w.block("public enum \(ns) {") { w in
            w.line("/// The service's full name, as calls name it on the wire.")
            w.line("public static let name = \"\(s.fullName)\"")
            w.line()
            emitDescriptors(s, into: &w)
            w.line()
            emitHandler(s, into: &w)
            w.line()
            emitService(s, into: &w)
            if withClient {
                w.line()
                emitClient(s, into: &w)
            }
        }
    }

    /// The client alone, extending the namespace `emit(_:withClient: false, into:)` wrote.
    func emitClientExtension(_ s: Service, into w: inout CodeWriter) {
        w.block("extension \(index.topLevelName(s.name)) {") { w in
            emitClient(s, into: &w)
        }
    }

    private func emitDescriptors(_ s: Service, into w: inout CodeWriter) {
        w.line("/// The descriptors of `\(s.name)`'s methods (`\"\(s.fullName)/<Method>\"`).")
        w.block("public enum Method {") { w in
            for r in s.methods {
                w.comments(docs(r))
                let idempotency = r.idempotency == .unknown ? "" : ", idempotency: .\(Self.swiftCase(r.idempotency))"
                w.line("public static let \(method(r)) = MethodDescriptor(service: \(index.topLevelName(s.name)).name, method: \"\(r.name)\"\(idempotency))")
            }
            w.line("/// Every method, in schema order.")
            w.line("public static let all: [MethodDescriptor] = [\(s.methods.map { method($0) }.joined(separator: ", "))]")
        }
    }

    /// RPCCore's `Idempotency` case for a level.
    static func swiftCase(_ level: Idempotency) -> String {
        switch level {
        case .unknown: "unknown"
        case .noSideEffects: "noSideEffects"
        case .idempotent: "idempotent"
        }
    }

    private func emitHandler(_ s: Service, into w: inout CodeWriter) {
        w.line("/// What a server implements to serve `\(s.name)`: one method per rpc. Throw `RPCError` to")
        w.line("/// answer with a status; any other error reaches the caller as INTERNAL.")
        w.block("public protocol Handler: Sendable {") { w in
            for (i, r) in s.methods.filter(Self.isServed).enumerated() {
                if i > 0 { w.line() }
                w.comments(docs(r))
                if r.clientStreaming {
                    w.line("///")
                    w.line("/// A bidirectional stream: called once per request message, each call's reply sent in order.")
                }
                w.line("func \(method(r))(_ request: \(index.swiftPath(r.input)), context: ServerContext) throws -> \(index.swiftPath(r.output))")
            }
        }
    }

    private func emitService(_ s: Service, into w: inout CodeWriter) {
        w.line("/// The method table of `handler`, to give to a server. Methods listed in `inline` (descriptors")
        w.line("/// from `\(s.name).Method`) run on the connection's I/O thread, so only short, non-blocking work")
        w.line("/// belongs there; the others run on the worker pool.")
        w.block("public static func service(_ handler: some Handler, inline: Set<MethodDescriptor> = []) -> Service {") { w in
            w.line("Service(handler, inline: inline)")
        }
        w.line()
        w.line("/// A `Handler` as an `RPCServiceProvider`: each method decodes its request (a malformed one is")
        w.line("/// INVALID_ARGUMENT), calls the handler and encodes the reply.")
        w.block("public struct Service: RPCServiceProvider {") { w in
            w.line("public let methods: [ServerMethod]")
            w.line()
            w.block("public init(_ handler: some Handler, inline: Set<MethodDescriptor> = []) {") { w in
                let served = s.methods.filter(Self.isServed)
                guard !served.isEmpty else {
                    w.line("methods = []")
                    return
                }
                w.block("func kind(_ method: MethodDescriptor) -> HandlerKind {") { w in
                    w.line("inline.contains(method) ? .inline : .blocking")
                }
                w.block("methods = [", close: "]") { w in
                    for r in served {
                        let d = "Method.\(method(r))"
                        let shape = r.clientStreaming ? ", shape: .replyPerMessage" : ""
                        w.block("ServerMethod(descriptor: \(d), kind: kind(\(d))\(shape)) { bytes, context in", close: "},") { w in
                            w.line("let request = try \(index.swiftPath(r.input))(decodingRequest: bytes, for: \(d))")
                            w.line("return try handler.\(method(r))(request, context: context).serializedBytes()")
                        }
                    }
                }
            }
        }
    }

    private func emitClient(_ s: Service, into w: inout CodeWriter) {
        w.line("/// Calls `\(s.name)` through a transport, blocking or async. A failed call throws `RPCError`.")
        w.block("public struct Client: Sendable {") { w in
            w.line("public let transport: any ClientTransport")
            w.line()
            w.line("public init(transport: any ClientTransport) {")
            w.line("    self.transport = transport")
            w.line("}")
            for r in s.methods.filter(Self.isServed) {
                let d = "Method.\(method(r))"
                let input = index.swiftPath(r.input), output = index.swiftPath(r.output)
                for isAsync in [false, true] {
                    w.line()
                    w.comments(docs(r))
                    let effects = isAsync ? "async throws" : "throws"
                    w.block("public func \(method(r))(_ request: \(input), options: CallOptions = CallOptions()) \(effects) -> \(output) {") { w in
                        w.line("let reply = try \(isAsync ? "await " : "")transport.unary(\(d), request: request.serializedBytes(), options: options)")
                        w.line("return try \(output)(decodingReply: reply, for: \(d))")
                    }
                }
            }
        }
    }
}
