import AuthAPI
import RPCCore
import StandardAPI

/// One schema file as reflection hands it out: what rpcgen's `--swift-descriptor-out` emits.
public struct ReflectionFile: Sendable {
    /// The name below the schema root (`auth.proto`, `grpc/health/v1/health.proto`).
    public var name: String
    /// The files it imports.
    public var dependencies: [String]
    /// The fully qualified services, methods, messages and enums it defines.
    public var symbols: [String]
    /// The serialized `google.protobuf.FileDescriptorProto`.
    public var bytes: [UInt8]

    public init(name: String, dependencies: [String], symbols: [String], bytes: [UInt8]) {
        self.name = name
        self.dependencies = dependencies
        self.symbols = symbols
        self.bytes = bytes
    }

    /// Every schema file authd serves or imports.
    public static let all: [ReflectionFile] = [
        ReflectionFile(name: AuthFileDescriptor.name, dependencies: AuthFileDescriptor.dependencies,
                       symbols: AuthFileDescriptor.symbols, bytes: AuthFileDescriptor.bytes),
        ReflectionFile(name: GrpcHealthV1HealthFileDescriptor.name, dependencies: GrpcHealthV1HealthFileDescriptor.dependencies,
                       symbols: GrpcHealthV1HealthFileDescriptor.symbols, bytes: GrpcHealthV1HealthFileDescriptor.bytes),
        ReflectionFile(name: GrpcReflectionV1ReflectionFileDescriptor.name,
                       dependencies: GrpcReflectionV1ReflectionFileDescriptor.dependencies,
                       symbols: GrpcReflectionV1ReflectionFileDescriptor.symbols,
                       bytes: GrpcReflectionV1ReflectionFileDescriptor.bytes),
        ReflectionFile(name: GrpcReflectionV1alphaReflectionFileDescriptor.name,
                       dependencies: GrpcReflectionV1alphaReflectionFileDescriptor.dependencies,
                       symbols: GrpcReflectionV1alphaReflectionFileDescriptor.symbols,
                       bytes: GrpcReflectionV1alphaReflectionFileDescriptor.bytes),
        ReflectionFile(name: GoogleRpcStatusFileDescriptor.name, dependencies: GoogleRpcStatusFileDescriptor.dependencies,
                       symbols: GoogleRpcStatusFileDescriptor.symbols, bytes: GoogleRpcStatusFileDescriptor.bytes),
        ReflectionFile(name: EnvoyTypeV3HttpStatusFileDescriptor.name, dependencies: EnvoyTypeV3HttpStatusFileDescriptor.dependencies,
                       symbols: EnvoyTypeV3HttpStatusFileDescriptor.symbols, bytes: EnvoyTypeV3HttpStatusFileDescriptor.bytes),
        ReflectionFile(name: EnvoyConfigCoreV3BaseFileDescriptor.name, dependencies: EnvoyConfigCoreV3BaseFileDescriptor.dependencies,
                       symbols: EnvoyConfigCoreV3BaseFileDescriptor.symbols, bytes: EnvoyConfigCoreV3BaseFileDescriptor.bytes),
        ReflectionFile(name: EnvoyServiceAuthV3AttributeContextFileDescriptor.name,
                       dependencies: EnvoyServiceAuthV3AttributeContextFileDescriptor.dependencies,
                       symbols: EnvoyServiceAuthV3AttributeContextFileDescriptor.symbols,
                       bytes: EnvoyServiceAuthV3AttributeContextFileDescriptor.bytes),
        ReflectionFile(name: EnvoyServiceAuthV3ExternalAuthFileDescriptor.name,
                       dependencies: EnvoyServiceAuthV3ExternalAuthFileDescriptor.dependencies,
                       symbols: EnvoyServiceAuthV3ExternalAuthFileDescriptor.symbols,
                       bytes: EnvoyServiceAuthV3ExternalAuthFileDescriptor.bytes),
    ]
}

/// gRPC server reflection, `grpc.reflection.v1.ServerReflection` and the older
/// `grpc.reflection.v1alpha.ServerReflection` (the same messages, field for field, so the same
/// Swift types and one method for both), answering each request message on its own
/// (`CallShape.replyPerMessage`):
/// - `list_services`: the services the server serves;
/// - `file_by_filename`, `file_containing_symbol` (a service, method, message or enum): the file
///   and every file it imports, directly or not, the asked one first;
/// - `all_extension_numbers_of_type`: none, for a known message;
/// - `file_containing_extension`, an unknown file or symbol: an error response NOT_FOUND;
/// - a request asking nothing: an error response INVALID_ARGUMENT.
/// Pure memory: runs inline.
public struct ReflectionService: Grpc_Reflection_V1_ServerReflection.Handler, Grpc_Reflection_V1alpha_ServerReflection.Handler {
    private let services: [String]
    private let files: [String: ReflectionFile]
    private let fileBySymbol: [String: String]

    /// `services`: the full names to list (those the server serves).
    public init(services: [String], files: [ReflectionFile] = ReflectionFile.all) {
        self.services = Array(Set(services)).sorted()
        self.files = Dictionary(files.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var bySymbol: [String: String] = [:]
        for f in files { for s in f.symbols { bySymbol[s] = f.name } }
        fileBySymbol = bySymbol
    }

    /// Both versions' method tables; `otherServices` are the rest of what the server serves.
    public static func services(listing otherServices: [String]) -> [any RPCServiceProvider] {
        let handler = ReflectionService(services: otherServices + [Grpc_Reflection_V1_ServerReflection.name,
                                                                   Grpc_Reflection_V1alpha_ServerReflection.name])
        return [
            Grpc_Reflection_V1_ServerReflection.service(handler, inline: [Grpc_Reflection_V1_ServerReflection.Method.serverReflectionInfo]),
            Grpc_Reflection_V1alpha_ServerReflection.service(
                handler, inline: [Grpc_Reflection_V1alpha_ServerReflection.Method.serverReflectionInfo]),
        ]
    }

    public func serverReflectionInfo(_ request: Grpc_Reflection_V1_ServerReflectionRequest,
                                     context: ServerContext) throws -> Grpc_Reflection_V1_ServerReflectionResponse {
        var response = Grpc_Reflection_V1_ServerReflectionResponse(validHost: request.host, originalRequest: request)
        func error(_ code: StatusCode, _ message: String) {
            response.errorResponse = .init(errorCode: Int32(code.rawValue), errorMessage: message)
        }
        if request.listServices != nil {
            response.listServicesResponse = .init(service: services.map { .init(name: $0) })
        } else if let name = request.fileByFilename {
            if files[name] != nil {
                response.fileDescriptorResponse = .init(fileDescriptorProto: withDependencies(name))
            } else {
                error(.notFound, "File not found: \(name)")
            }
        } else if let symbol = request.fileContainingSymbol {
            if let name = fileBySymbol[symbol] {
                response.fileDescriptorResponse = .init(fileDescriptorProto: withDependencies(name))
            } else {
                error(.notFound, "Symbol not found: \(symbol)")
            }
        } else if let type = request.allExtensionNumbersOfType {
            if fileBySymbol[type] != nil {
                response.allExtensionNumbersResponse = .init(baseTypeName: type, extensionNumber: [])
            } else {
                error(.notFound, "Type not found: \(type)")
            }
        } else if let extensionRequest = request.fileContainingExtension {
            error(.notFound, "Extension not found: \(extensionRequest.containingType)(\(extensionRequest.extensionNumber))")
        } else {
            error(.invalidArgument, "The request asks for nothing this server knows.")
        }
        return response
    }

    /// The file's descriptor, then those of every file it imports, each once.
    private func withDependencies(_ name: String) -> [[UInt8]] {
        var seen: Set<String> = [], out: [[UInt8]] = []
        var queue = [name]
        while !queue.isEmpty {
            let next = queue.removeFirst()
            guard seen.insert(next).inserted, let file = files[next] else { continue }
            out.append(file.bytes)
            queue += file.dependencies
        }
        return out
    }
}
