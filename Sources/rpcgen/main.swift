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

    func validate() throws {
        guard swiftOut != nil || swiftClientOut != nil || pythonOut != nil else {
            throw ValidationError("give --swift-out, --swift-client-out and/or --python-out")
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
        let source: String
        do {
            source = try String(contentsOfFile: schema, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(schema): \(error.localizedDescription)")
        }
        let compiled: SchemaFile
        do {
            compiled = try SchemaCompiler.compile(source: source, path: schema)
        } catch let error as SchemaError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        if let swiftOut {
            try write(SwiftEmitter(swiftClientOut == nil ? .all : .api).emit(compiled), to: swiftOut)
        }
        if let swiftClientOut, let apiModule {
            try write(SwiftEmitter(.client(apiModule: apiModule)).emit(compiled), to: swiftClientOut)
        }
        if let pythonOut { try write(PythonEmitter().emit(compiled), to: pythonOut) }
    }

    private func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
