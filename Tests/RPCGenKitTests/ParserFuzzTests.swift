import RPCGenKit
import TestSupport
import XCTest

/// Mangled schemas never trap the compiler: each compiles (and emits) or throws `SchemaError`.
final class ParserFuzzTests: XCTestCase {
    func testMutatedSchemas() throws {
        let sources = try ["schema/auth.proto", "Tests/RPCGenKitTests/Golden/alltypes.proto", "Tests/RPCGenKitTests/Golden/basic.proto"]
            .map { try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent($0), encoding: .utf8) }
        let pieces = ["{", "}", ";", "=", "\"", "/*", "//", "\n", "message", "enum", "repeated", ".", "0", "-1", "0x", "[", "]",
                      "(", ")", "stream", "rpc", "returns", "reserved", "max", "to", "option", "é", "\r\n", "'", "\\"]
        var seed: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {  // deterministic, so a failure replays
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        var compiled = 0
        for i in 0..<1000 {
            var chars = Array(sources[i % sources.count])
            for _ in 0..<(1 + next(4)) {
                let at = next(chars.count + 1)
                switch next(3) {
                case 0: if at < chars.count { chars.remove(at: at) }
                case 1: chars.insert(contentsOf: pieces[next(pieces.count)], at: at)
                default: if at < chars.count { chars.removeSubrange(at..<min(chars.count, at + next(20))) }
                }
            }
            do {
                let schema = try SchemaCompiler.compile(source: String(chars), path: "fuzz.proto")
                _ = SwiftEmitter().emit(schema)
                _ = PythonEmitter().emit(schema)
                compiled += 1
            } catch is SchemaError {
                continue
            }
        }
        XCTAssertGreaterThan(compiled, 0)
    }
}
