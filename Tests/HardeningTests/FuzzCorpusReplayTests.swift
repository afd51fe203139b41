import Foundation
import FuzzTargets
import XCTest

/// Replays the committed fuzz corpus (Fuzz/corpus/<target>/: seeds, and every input that once
/// crashed a fuzzer) through the same targets libFuzzer runs, plus a bounded number of
/// deterministic mutations of it, in every `swift test`. A crash found by scripts/fuzz becomes a
/// regression test by copying its input into the corpus.
final class FuzzCorpusReplayTests: XCTestCase {
    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus").standardized

    func testFrameCorpus() throws { try replay("frame", FrameFuzzTarget.run) }
    func testJWTCorpus() throws { try replay("jwt", JWTFuzzTarget.run) }
    func testSchemaCorpus() throws { try replay("schema", SchemaFuzzTarget.run) }
    func testProtoCorpus() throws { try replay("proto", ProtoFuzzTarget.run) }

    private func replay(_ target: String, _ run: (UnsafeRawBufferPointer) -> Void) throws {
        let dir = Self.corpusRoot.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
        XCTAssertFalse(files.isEmpty, "no corpus in \(dir.path)")
        var rng = SplitMix(state: 0x5EED)
        var inputs = 0
        for file in files.sorted(by: { $0.path < $1.path }) {
            let seed = try [UInt8](Data(contentsOf: file))
            seed.withUnsafeBytes(run)
            inputs += 1
            for _ in 0..<200 {  // a few mutations each: flips, truncations, insertions, splices
                var m = seed
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where !m.isEmpty: m[Int.random(in: 0..<m.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                case 1 where !m.isEmpty: m.removeLast(Int.random(in: 0...m.count, using: &rng))
                case 2: m.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...m.count, using: &rng))
                default: m += m.prefix(Int.random(in: 0...min(m.count, 64), using: &rng))
                }
                m.withUnsafeBytes(run)
                inputs += 1
            }
        }
        print("fuzz corpus \(target): \(files.count) files, \(inputs) inputs replayed")
    }
}

/// A small deterministic generator (SplitMix64), so a failure replays.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
