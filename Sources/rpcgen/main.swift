import ArgumentParser
import Foundation
import RPCGenKit

/// `rpcgen`: compiles one schema into Swift and/or Python.
@main
struct RPCGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpcgen",
        abstract: "Compile a proto3 schema into Swift messages/handler/client and a Python client.",
        discussion: """
            Paths in the generated headers are the schema path as given: run it from the package root.

            Swift goes into one file (--swift-out), or into two so that a server does not depend on \
            the clients: --swift-out gets the messages, method descriptors, handler protocol and \
            method table; --swift-client-out gets each service's client as an extension of its \
            namespace, importing the module of --swift-out:

              rpcgen schema/auth.proto --swift-out Sources/AuthAPI/Auth.rpc.swift \\
                  --swift-client-out clients/swift/AuthClient/Auth+Client.rpc.swift \\
                  --python-out clients/python/auth_api.py

            A schema that imports others names them below --proto-path (as protoc's -I); rpcgen \
            compiles them too and emits only the schema given. --swift-descriptor-out writes the \
            file's serialized FileDescriptorProto (for server reflection):

              rpcgen schema/grpc/health/v1/health.proto --proto-path schema \\
                  --swift-package-prefix --swift-out Sources/StandardAPI/Health.rpc.swift \\
                  --swift-descriptor-out Sources/StandardAPI/Health.descriptor.swift
            """)

    @Argument(help: "The .proto schema file.")
    var schema: String

    @Option(name: .customLong("swift-out"),
            help: "Write the Swift file here (without the clients when --swift-client-out is given).")
    var swiftOut: String?

    @Option(name: .customLong("swift-client-out"), help: "Write the Swift clients to this file of their own.")
    var swiftClientOut: String?

    @Option(name: .customLong("swift-api-module"),
            help: ArgumentHelp("The module the client file imports for the messages and descriptors.",
                               discussion: "Default: the name of the folder holding --swift-out, as SwiftPM names a target."))
    var swiftAPIModule: String?

    @Option(name: .customLong("python-out"), help: "Write the Python module here.")
    var pythonOut: String?

    @Option(name: .customLong("proto-path"),
            help: "The schema root: imports are found below it and files are named relative to it (default: the schema's folder).")
    var protoPath: String?

    @Flag(name: .customLong("swift-package-prefix"),
          help: "Prefix top-level Swift type names with the package (Grpc_Health_V1_HealthCheckRequest), as swift-protobuf does.")
    var swiftPackagePrefix = false

    @Option(name: .customLong("swift-descriptor-out"),
            help: "Write the schema's serialized FileDescriptorProto, as Swift constants, to this file.")
    var swiftDescriptorOut: String?

    @Option(name: .customLong("swift-messages-from"),
            help: ArgumentHelp("Another schema, below --proto-path, declaring the same messages and enums in its own package.",
                               discussion: "The Swift output makes this schema's messages and enums typealiases of that file's (generated into the same module); the services stay this schema's own. For two versions of one API, as gRPC reflection's v1alpha and v1."))
    var swiftMessagesFrom: String?

    func validate() throws {
        guard swiftOut != nil || swiftClientOut != nil || pythonOut != nil || swiftDescriptorOut != nil else {
            throw ValidationError("give --swift-out, --swift-client-out, --swift-descriptor-out and/or --python-out")
        }
        if swiftClientOut != nil, apiModule == nil {
            throw ValidationError("--swift-client-out needs --swift-api-module (or --swift-out, whose folder names it)")
        }
        if swiftAPIModule != nil, swiftClientOut == nil {
            throw ValidationError("--swift-api-module only applies with --swift-client-out")
        }
    }

    /// The module the client file imports.
    private var apiModule: String? {
        swiftAPIModule ?? swiftOut.map { URL(fileURLWithPath: $0).deletingLastPathComponent().lastPathComponent }
    }

    func run() throws {
        let root = protoPath ?? URL(fileURLWithPath: schema).deletingLastPathComponent().relativePath
        let rootPrefix = root == "." || root.isEmpty ? "" : (root.hasSuffix("/") ? root : root + "/")
        guard schema.hasPrefix(rootPrefix) else { throw ValidationError("\(schema) is not below --proto-path \(root)") }
        var loader = Loader(rootPrefix: rootPrefix)
        let compiled: SchemaFile, messagesFrom: SchemaFile?
        do {
            compiled = try loader.load(String(schema.dropFirst(rootPrefix.count)), importedBy: [])
            messagesFrom = try swiftMessagesFrom.map { try loader.load($0, importedBy: []) }
        } catch let error as SchemaError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        if let swiftMessagesFrom, let messagesFrom, let differing = compiled.firstTypeDiffering(from: messagesFrom) {
            throw ValidationError("--swift-messages-from \(swiftMessagesFrom): \(differing) is not declared alike in both files")
        }
        if let swiftOut {
            let emitter = SwiftEmitter(swiftClientOut == nil ? .all : .api, packagePrefix: swiftPackagePrefix, messagesFrom: messagesFrom)
            try write(emitter.emit(compiled), to: swiftOut)
        }
        if let swiftClientOut, let apiModule {
            try write(SwiftEmitter(.client(apiModule: apiModule), packagePrefix: swiftPackagePrefix).emit(compiled), to: swiftClientOut)
        }
        if let swiftDescriptorOut { try write(SwiftDescriptorEmitter().emit(compiled), to: swiftDescriptorOut) }
        if let pythonOut {
            if let unsupported = PythonEmitter.unsupportedFeature(compiled) {
                throw ValidationError("the Python emitter does not support \(unsupported) (in \(schema)); leave out --python-out")
            }
            try write(PythonEmitter().emit(compiled), to: pythonOut)
        }
    }

    /// Reads and compiles a schema and, first, the files it imports (each once; a cycle is an error).
    private struct Loader {
        let rootPrefix: String
        var compiled: [String: SchemaFile] = [:]

        mutating func load(_ protoName: String, importedBy chain: [String]) throws -> SchemaFile {
            if let done = compiled[protoName] { return done }
            let path = rootPrefix + protoName
            guard !chain.contains(protoName) else {
                throw ValidationError("import cycle: \((chain + [protoName]).joined(separator: " -> "))")
            }
            let source: String
            do {
                source = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read \(path)\(chain.last.map { " (imported by \($0))" } ?? ""): \(error.localizedDescription)")
            }
            let dependencies = try SchemaCompiler.imports(of: source, path: path).map {
                try load($0, importedBy: chain + [protoName])
            }
            let file = try SchemaCompiler.compile(source: source, path: path, protoName: protoName, dependencies: dependencies)
            compiled[protoName] = file
            return file
        }
    }

    private func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
