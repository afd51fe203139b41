import RPCGenKit

/// Fuzz target: the schema compiler (lexer, parser, resolver, and both emitters for whatever
/// compiles). The input is read as UTF-8 (invalid sequences repaired, as a file read would be).
/// Any input may be refused with a SchemaError; none may crash or hang.
/// Run by libFuzzer (scripts/fuzz schema, the fuzz-schema executable) and over the committed corpus
/// by HardeningTests/FuzzCorpusReplayTests.
public enum SchemaFuzzTarget {
    public static func run(_ bytes: UnsafeRawBufferPointer) {
        let source = String(decoding: bytes, as: UTF8.self)
        if let schema = try? SchemaCompiler.compile(source: source, path: "fuzz.proto") {
            _ = SwiftEmitter().emit(schema)
            _ = PythonEmitter().emit(schema)
        }
    }
}
