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

    /// Compiles a file that may `import` others: `protoName` is its name below the schema root
    /// (what imports and descriptors call it), `dependencies` the compiled files it imports,
    /// found by the caller from `imports(of:)`. A file imported but not given, or given but not
    /// imported, is an error.
    public static func compile(source: String, path: String, protoName: String,
                               dependencies: [SchemaFile]) throws -> SchemaFile {
        var schema = try Parser.parse(file: path, protoName: protoName, source: source)
        let byName = Dictionary(dependencies.map { ($0.protoName, $0) }, uniquingKeysWith: { a, _ in a })
        schema.dependencies = try schema.imports.map { name in
            guard let d = byName[name] else {
                throw SchemaError(file: path, SourceLocation(line: 1, column: 1), "imported file \"\(name)\" was not given to the compiler")
            }
            return d
        }
        return try Resolver.resolve(schema)
    }

    /// The files a schema imports, as written (to find and compile them first).
    public static func imports(of source: String, path: String) throws -> [String] {
        try Parser.parse(file: path, source: source).imports
    }
}
