import Foundation
import RPCCore
import TestSupport
import XCTest

/// Our Swift encoding against an independent implementation, the Python `protobuf` package
/// (clients/python/tests/codec_crosscheck.py, descriptors built at runtime):
/// - the bytes we produce decode in `protobuf` to the values we meant;
/// - the bytes `protobuf` produces for the same values decode in ours to the same message.
final class CrossCheckTests: XCTestCase {
    private struct Result: Decodable {
        var name: String
        var mismatches: [String]
        var error: String?
        var protobuf_hex: String
    }

    private static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16) ?? 0)
            i = j
        }
        return out
    }

    func testSwiftAgainstPythonProtobuf() throws {
        let python = try TestEnvironment.python()
        let samples = AllTypesSamples.all
        let request: [String: Any] = ["samples": samples.map { sample in
            ["name": sample.name, "hex": AllTypesSamples.hex(sample.message.serializedBytes()),
             "plain": AllTypesSamples.plain(sample.message)] as [String: Any]
        }]
        let input = try JSONSerialization.data(withJSONObject: request)
        let script = TestEnvironment.packageRoot.appendingPathComponent("clients/python/tests/codec_crosscheck.py")
        let run = try ProcessRunner.run(python, [script.path], input: input, timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        struct Reply: Decodable { var results: [Result] }
        let reply = try JSONDecoder().decode(Reply.self, from: Data(run.stdout.utf8))
        XCTAssertEqual(reply.results.count, samples.count)

        for (sample, result) in zip(samples, reply.results) {
            XCTAssertEqual(result.name, sample.name)
            XCTAssertNil(result.error, "\(sample.name): protobuf failed: \(result.error ?? "")")
            XCTAssertEqual(result.mismatches, [], "\(sample.name): protobuf decoded our bytes differently")
            let decoded = try AllTypes(serializedBytes: Self.bytes(hex: result.protobuf_hex))
            XCTAssertEqual(AllTypesSamples.plain(decoded) as NSDictionary, AllTypesSamples.plain(sample.message) as NSDictionary,
                           "\(sample.name): we decoded protobuf's bytes differently")
            XCTAssertEqual(decoded.serializedBytes().count, Self.bytes(hex: result.protobuf_hex).count,
                           "\(sample.name): encodings differ in size")
        }
    }
}
