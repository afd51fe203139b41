import Foundation
@testable import RPCGenKit
import TestSupport
import XCTest

/// The schema features the standard services' files need: imports across packages, map fields,
/// oneofs, streaming rpcs, package-prefixed Swift names, and the serialized FileDescriptorProto,
/// checked against the official protoc.
final class SchemaFeaturesTests: XCTestCase {
    private let base = """
        syntax = "proto3";
        package x.common.v1;
        message Header { string key = 1; string value = 2; }
        enum Code { CODE_UNSPECIFIED = 0; CODE_DENIED = 7; }
        """

    private let user = """
        syntax = "proto3";
        package y.api;
        import "x/common/v1/base.proto";
        message Request {
          map<string, string> headers = 1;
          x.common.v1.Header first = 2;
          oneof what {
            string name = 3;
            Request nested = 4;
          }
        }
        message Reply { repeated x.common.v1.Header headers = 1; x.common.v1.Code code = 2; }
        service Api {
          rpc Call(Request) returns (Reply);
          rpc Chat(stream Request) returns (stream Reply);
          rpc Watch(Request) returns (stream Reply);
        }
        """

    private func compile() throws -> SchemaFile {
        let dependency = try SchemaCompiler.compile(source: base, path: "x/common/v1/base.proto",
                                                    protoName: "x/common/v1/base.proto", dependencies: [])
        return try SchemaCompiler.compile(source: user, path: "y/api.proto", protoName: "y/api.proto", dependencies: [dependency])
    }

    func testImportsMapsOneofsAndStreams() throws {
        let schema = try compile()
        XCTAssertEqual(schema.imports, ["x/common/v1/base.proto"])
        let request = schema.messages[0]
        XCTAssertEqual(request.messages.map(\.name), ["HeadersEntry"])
        XCTAssertTrue(request.messages[0].isMapEntry)
        XCTAssertEqual(request.messages[0].fields.map(\.name), ["key", "value"])
        XCTAssertEqual(request.fields.map(\.type), [.message("y.api.Request.HeadersEntry"), .message("x.common.v1.Header"),
                                                    .scalar(.string), .message("y.api.Request")])
        XCTAssertEqual(request.fields.map(\.isRepeated), [true, false, false, false])
        XCTAssertEqual(request.oneofs, ["what"])
        XCTAssertEqual(request.fields.map(\.oneofIndex), [nil, nil, 0, 0])
        XCTAssertEqual(schema.messages[1].fields[1].type, .enumeration("x.common.v1.Code"))
        let methods = schema.services[0].methods
        XCTAssertEqual(methods.map(\.clientStreaming), [false, true, false])
        XCTAssertEqual(methods.map(\.serverStreaming), [false, true, true])

        // An import not given, or a type of a file not imported, is an error.
        XCTAssertThrowsError(try SchemaCompiler.compile(source: user, path: "y/api.proto", protoName: "y/api.proto", dependencies: []))
        let unimported = user.replacingOccurrences(of: "import \"x/common/v1/base.proto\";", with: "")
        XCTAssertThrowsError(try SchemaCompiler.compile(source: unimported, path: "y/api.proto", protoName: "y/api.proto", dependencies: []))
    }

    func testSwiftNamesAndShapes() throws {
        let swift = SwiftEmitter(.all, packagePrefix: true).emit(try compile())
        for expected in [
            "public struct Y_Api_Request: ProtoMessage {",
            "public var headers: [Y_Api_Request.HeadersEntry] = []",
            "public var first: X_Common_V1_Header? = nil",
            "public var name: String? = nil",
            "public var code: X_Common_V1_Code = .unspecified",
            // A oneof member is written when set, even empty, and setting one clears the others.
            "if let v = name { writer.appendTag(3, .lengthDelimited); writer.appendVarint(UInt64(v.utf8.count)); writer.appendRaw(v.utf8) }",
            "case 3: nested = nil; name = try reader.readString(tag)",
            "case 4: name = nil; try reader.readMessage(tag, into: &nested)",
            "public enum Y_Api_Api {",
            "ServerMethod(descriptor: Method.chat, kind: kind(Method.chat), shape: .replyPerMessage)",
            "public static let watch = MethodDescriptor(",
        ] {
            XCTAssertTrue(swift.contains(expected), "missing: \(expected)")
        }
        // A one-way stream has a descriptor but no handler method (the server answers UNIMPLEMENTED).
        XCTAssertFalse(swift.contains("func watch("))
        XCTAssertFalse(swift.contains("ServerMethod(descriptor: Method.watch"))
        // Without the prefix, the names are as before.
        XCTAssertTrue(SwiftEmitter().emit(try compile()).contains("public struct Request: ProtoMessage {"))
        XCTAssertEqual(PythonEmitter.unsupportedFeature(try compile()), "import")
    }

    /// Two versions of one API (gRPC reflection's v1alpha and v1): the second's messages and enums
    /// become typealiases of the first's, its service stays its own.
    func testMessagesFromAnotherVersion() throws {
        func version(_ v: String, _ extra: String = "", kindOne: Int = 1) throws -> SchemaFile {
            try SchemaCompiler.compile(source: """
                syntax = "proto3";
                package z.\(v);
                message Ask { oneof what { string name = 1; Ask again = 2; } Kind kind = 3;\(extra) }
                enum Kind { KIND_UNSPECIFIED = 0; KIND_ONE = \(kindOne); }
                service Api { rpc Call(stream Ask) returns (stream Ask); }
                """, path: "z/\(v).proto", protoName: "z/\(v).proto", dependencies: [])
        }
        let v1 = try version("v1"), alpha = try version("v1alpha")
        XCTAssertNil(alpha.firstTypeDiffering(from: v1))
        let swift = SwiftEmitter(.all, packagePrefix: true, messagesFrom: v1).emit(alpha)
        for expected in [
            "public typealias Z_V1alpha_Ask = Z_V1_Ask",
            "public typealias Z_V1alpha_Kind = Z_V1_Kind",
            "public static let name = \"z.v1alpha.Api\"",
            "func call(_ request: Z_V1alpha_Ask, context: ServerContext) throws -> Z_V1alpha_Ask",
        ] {
            XCTAssertTrue(swift.contains(expected), "missing: \(expected)")
        }
        XCTAssertFalse(swift.contains("struct Z_V1alpha"))
        XCTAssertFalse(swift.contains("enum Z_V1alpha_Kind"))

        // A field more on either side, or an enum value of another number, is a difference.
        XCTAssertEqual(try version("v1alpha", " string more = 4;").firstTypeDiffering(from: v1), "Ask")
        XCTAssertEqual(alpha.firstTypeDiffering(from: try version("v1", " int32 more = 4;")), "Ask")
        XCTAssertEqual(try version("v1alpha", kindOne: 2).firstTypeDiffering(from: v1), "Kind")
    }

    func testDescriptorNamesAndSymbols() throws {
        let schema = try compile()
        XCTAssertEqual(SwiftDescriptorEmitter.namespace("grpc/reflection/v1alpha/reflection.proto"),
                       "GrpcReflectionV1alphaReflectionFileDescriptor")
        XCTAssertEqual(DescriptorEncoder.symbols(schema), [
            "y.api.Api", "y.api.Api.Call", "y.api.Api.Chat", "y.api.Api.Watch",
            "y.api.Request", "y.api.Request.HeadersEntry", "y.api.Reply",
        ])
        let swift = SwiftDescriptorEmitter().emit(schema)
        XCTAssertTrue(swift.contains("public static let dependencies: [String] = [\"x/common/v1/base.proto\"]"))
    }

    /// Every schema in schema/ (auth.proto, gRPC health and reflection, the Envoy subset), compiled
    /// here, against protoc's --descriptor_set_out of the same files (clients/python/tests/
    /// descriptor_crosscheck.py): equal once the options rpcgen ignores are dropped.
    func testDescriptorsMatchProtoc() throws {
        let python: URL
        do { python = try TestEnvironment.python() } catch { throw XCTSkip("\(error)") }
        let root = TestEnvironment.packageRoot.appendingPathComponent("schema")
        var compiled: [String: SchemaFile] = [:]
        func load(_ name: String) throws -> SchemaFile {
            if let done = compiled[name] { return done }
            let path = root.appendingPathComponent(name).path
            let source = try String(contentsOfFile: path, encoding: .utf8)
            let dependencies = try SchemaCompiler.imports(of: source, path: path).map(load)
            let file = try SchemaCompiler.compile(source: source, path: path, protoName: name, dependencies: dependencies)
            compiled[name] = file
            return file
        }
        let names = ["auth.proto", "grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto",
                     "grpc/reflection/v1alpha/reflection.proto", "envoy/service/auth/v3/external_auth.proto"]
        for name in names { _ = try load(name) }
        XCTAssertEqual(compiled.count, 9, "the Envoy file brings its four imports")
        var files: [String: String] = [:]
        for (name, file) in compiled {
            files[name] = DescriptorEncoder.fileDescriptorProto(file).map { String(format: "%02x", $0) }.joined()
        }
        let script = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/descriptor_crosscheck.py")
        let input = try JSONSerialization.data(withJSONObject: ["files": files])
        let run = try ProcessRunner.run(python, [script.path], input: input, timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        struct Reply: Decodable { var differences: [String: String]?; var error: String? }
        let reply = try JSONDecoder().decode(Reply.self, from: Data(run.stdout.utf8))
        XCTAssertNil(reply.error)
        XCTAssertEqual(reply.differences, [:])

        // The comparison sees a difference when there is one.
        var wrong = files
        wrong["grpc/health/v1/health.proto"] = DescriptorEncoder.fileDescriptorProto(
            try SchemaCompiler.compile(source: "syntax = \"proto3\";\npackage grpc.health.v1;\n", path: "h", protoName: "grpc/health/v1/health.proto",
                                       dependencies: [])).map { String(format: "%02x", $0) }.joined()
        let tampered = try ProcessRunner.run(python, [script.path], input: try JSONSerialization.data(withJSONObject: ["files": wrong]), timeout: 120)
        let tamperedReply = try JSONDecoder().decode(Reply.self, from: Data(tampered.stdout.utf8))
        XCTAssertEqual(tamperedReply.differences.map { Array($0.keys) }, ["grpc/health/v1/health.proto"])
    }
}
