import ArgumentParser
import Foundation
import RPCGenKit

/// `rpcgen`: compiles one schema into Swift and/or Python.
@main
struct RPCGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpcgen",
        abstract: "Compile a proto3 schema into Swift messages/handler/client and a Python client.",
        discussion: "Paths in the generated headers are the schema path as given: run it from the package root.")

    @Argument(help: "The .proto schema file.")
    var schema: String

    @Option(name: .customLong("swift-out"), help: "Write the Swift file here.")
    var swiftOut: String?

    @Option(name: .customLong("python-out"), help: "Write the Python module here.")
    var pythonOut: String?

    func run() throws {
        guard swiftOut != nil || pythonOut != nil else {
            throw ValidationError("give --swift-out and/or --python-out")
        }
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
        if let swiftOut { try write(SwiftEmitter().emit(compiled), to: swiftOut) }
        if let pythonOut { try write(PythonEmitter().emit(compiled), to: pythonOut) }
    }

    private func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
