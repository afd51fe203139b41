import RPCCore
import XCTest

/// The generated service code (Golden/alltypes.proto's `Mirror`): method table, handler
/// dispatch, inline marking, and the client over a transport.
final class GeneratedServiceTests: XCTestCase {
    struct MirrorHandler: Mirror.Handler {
        func reflect(_ request: AllTypes, context: ServerContext) throws -> AllTypes {
            guard context.metadata["x-fail"] == nil else { throw RPCError(.permissionDenied, "told to fail") }
            return request
        }

        func sum(_ request: AllTypes.Nested, context: ServerContext) throws -> AllTypes.Nested {
            AllTypes.Nested(a: Int32(truncatingIfNeeded: request.values.reduce(0, &+)))
        }
    }

    /// A transport that serves calls from a method table in process, as a server would.
    struct LoopbackTransport: ClientTransport {
        let methods: [String: ServerMethod]

        init(_ provider: some RPCServiceProvider) {
            methods = Dictionary(uniqueKeysWithValues: provider.methods.map { ($0.descriptor.fullName, $0) })
        }

        func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) throws -> [UInt8] {
            guard let m = methods[method.fullName] else { throw RPCError(.unimplemented, method.fullName) }
            return try m.handler(request, ServerContext(metadata: options.metadata))
        }

        func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8] {
            let sync: (MethodDescriptor, [UInt8], CallOptions) throws -> [UInt8] = unary
            return try sync(method, request, options)
        }
    }

    func testMethodTable() throws {
        XCTAssertEqual(Mirror.name, "codec.test.Mirror")
        XCTAssertEqual(Mirror.Method.reflect.fullName, "codec.test.Mirror/Reflect")
        XCTAssertEqual(Mirror.Method.all, [Mirror.Method.reflect, Mirror.Method.sum])
        let service = Mirror.service(MirrorHandler(), inline: [Mirror.Method.sum])
        XCTAssertEqual(service.methods.map(\.descriptor), [Mirror.Method.reflect, Mirror.Method.sum])
        XCTAssertEqual(service.methods.map(\.kind), [.blocking, .inline])
        XCTAssertEqual(Mirror.service(MirrorHandler()).methods.map(\.kind), [.blocking, .blocking])

        let sum = service.methods[1]
        let reply = try sum.handler(AllTypes.Nested(values: [1, 2, 3]).serializedBytes(), ServerContext())
        XCTAssertEqual(try AllTypes.Nested(serializedBytes: reply).a, 6)
    }

    func testMalformedRequestIsInvalidArgument() {
        let service = Mirror.service(MirrorHandler())
        XCTAssertThrowsError(try service.methods[0].handler([0x08], ServerContext())) { error in
            let e = error as? RPCError
            XCTAssertEqual(e?.code, .invalidArgument)
            XCTAssertEqual(e?.message.hasPrefix("malformed AllTypes for codec.test.Mirror/Reflect"), true, e?.message ?? "")
        }
    }

    func testBlockingClient() throws {
        let client = Mirror.Client(transport: LoopbackTransport(Mirror.service(MirrorHandler())))
        for sample in AllTypesSamples.all {
            XCTAssertEqual(try client.reflect(sample.message).serializedBytes(), sample.message.serializedBytes(), sample.name)
        }
        XCTAssertEqual(try client.sum(AllTypes.Nested(values: [40, 2])).a, 42)
        var options = CallOptions()
        options.metadata["x-fail"] = "1"
        XCTAssertThrowsError(try client.reflect(AllTypes(), options: options)) { error in
            XCTAssertEqual(error as? RPCError, RPCError(.permissionDenied, "told to fail"))
        }
    }

    func testAsyncClient() async throws {
        let client = Mirror.Client(transport: LoopbackTransport(Mirror.service(MirrorHandler())))
        let reply = try await client.sum(AllTypes.Nested(values: [5, 5]))
        XCTAssertEqual(reply.a, 10)
    }

    func testMalformedReplyIsInternal() {
        struct Garbage: ClientTransport {
            func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) throws -> [UInt8] { [0xFF] }
            func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8] { [0xFF] }
        }
        XCTAssertThrowsError(try Mirror.Client(transport: Garbage()).reflect(AllTypes())) { error in
            XCTAssertEqual((error as? RPCError)?.code, .internalError)
        }
    }
}
