/// The schema compiler's entry point: source text in, checked schema and generated files out.
/// No I/O: the `rpcgen` executable reads and writes the files.
///
/// ```swift
/// let schema = try SchemaCompiler.compile(source: text, path: "schema/auth.proto")
/// let swift = SwiftEmitter().emit(schema)
/// let python = PythonEmitter().emit(schema)
/// ```
public enum SchemaCompiler {
    /// Parses and checks a schema; throws `SchemaError` (`path:line:column: message`) on the first problem.
    /// `path` is used in errors and in generated headers, as given.
    public static func compile(source: String, path: String) throws -> SchemaFile {
        try Resolver.resolve(Parser.parse(file: path, source: source))
    }
}
