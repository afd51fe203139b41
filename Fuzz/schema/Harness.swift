// libFuzzer target: the schema compiler (lexer, parser, resolver, and the emitters for whatever
// compiles). Input is treated as UTF-8 (invalid sequences repaired, as a file read would be).
// Any input may be refused with a SchemaError; none may crash or hang.
// Built by scripts/fuzz with Sources/RPCGenKit.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSchema(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let schema = try? SchemaCompiler.compile(source: source, path: "fuzz.proto") {
        _ = SwiftEmitter().emit(schema)
        _ = PythonEmitter().emit(schema)
    }
    return 0
}
