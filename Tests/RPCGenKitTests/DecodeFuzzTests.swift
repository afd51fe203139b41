import RPCCore
import XCTest

/// A bounded fuzz of the decoder: random and mutated inputs never trap; each either decodes or
/// throws `ProtoDecodingError`, and what decodes re-encodes to bytes that decode to the same value.
final class DecodeFuzzTests: XCTestCase {
    /// A small deterministic generator (SplitMix64), so a failure replays.
    private struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private func check(_ input: [UInt8], _ what: String) {
        do {
            let message = try AllTypes(serializedBytes: input)
            // What decodes must round-trip (unknown fields are dropped, so compare re-encodings).
            let again = try AllTypes(serializedBytes: message.serializedBytes())
            XCTAssertEqual(again.serializedBytes(), message.serializedBytes(), "\(what): unstable round trip")
        } catch is ProtoDecodingError {
            // Refused cleanly.
        } catch {
            XCTFail("\(what): unexpected error \(error)")
        }
    }

    func testRandomInputs() {
        var rng = SplitMix(state: 0xC0DEC)
        for i in 0..<20_000 {
            let count = Int.random(in: 0...64, using: &rng)
            let input = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            check(input, "random #\(i)")
        }
    }

    /// Random bytes behind valid tags of the schema's fields, so the field decoders are reached.
    func testRandomFieldsOfTheSchema() {
        var rng = SplitMix(state: 42)
        let numbers: [UInt64] = Array(1...18) + Array(21...37) + Array(40...44) + [536_870_911, 99]
        for i in 0..<20_000 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let tag = numbers.randomElement(using: &rng)! << 3 | UInt64.random(in: 0...7, using: &rng)
                var writer = ProtoWriter()
                writer.appendVarint(tag)
                input += writer.bytes
                input += (0..<Int.random(in: 0...12, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            check(input, "fields #\(i)")
        }
    }

    func testMutatedValidEncodings() {
        var rng = SplitMix(state: 7)
        let seeds = AllTypesSamples.all.map { $0.message.serializedBytes() }.filter { !$0.isEmpty && $0.count < 4096 }
        for i in 0..<5_000 {
            var input = seeds[i % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: input[Int.random(in: 0..<input.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 2: input.removeLast(Int.random(in: 0...min(8, input.count - 1), using: &rng))
                case 3: input.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...input.count, using: &rng))
                default: input.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], at: Int.random(in: 0...input.count, using: &rng))
                }
                if input.isEmpty { input = [0] }
            }
            check(input, "mutation #\(i)")
        }
    }

    /// Every prefix of a valid encoding either decodes or throws; none traps.
    func testEveryTruncation() {
        for sample in AllTypesSamples.all where sample.message.serializedBytes().count < 4096 {
            let bytes = sample.message.serializedBytes()
            for end in 0..<bytes.count { check(Array(bytes[..<end]), "\(sample.name) cut at \(end)") }
        }
    }

    /// Deep nesting is refused at `ProtoReader.maxDepth` instead of exhausting the stack.
    func testDeepNestingIsRefused() {
        var message: [UInt8] = []
        for _ in 0..<10_000 {
            var writer = ProtoWriter()
            writer.appendTag(18, .lengthDelimited)
            writer.appendVarint(UInt64(message.count))
            message = writer.bytes + message
        }
        XCTAssertThrowsError(try AllTypes(serializedBytes: message)) { error in
            XCTAssertEqual((error as? ProtoDecodingError)?.kind, .tooDeep)
        }
        // Groups nest too: 200 start-group tags of an unknown field.
        let groups = [UInt8](repeating: 99 << 3 | 3, count: 200)
        XCTAssertThrowsError(try AllTypes(serializedBytes: groups))
    }
}
