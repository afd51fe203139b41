import Foundation
import RPCCore

/// Values of the AllTypes test message (Golden/alltypes.proto) covering every scalar type,
/// negative and extreme values, empty, nested and repeated fields, and unknown enum values.
enum AllTypesSamples {
    static let all: [(name: String, message: AllTypes)] = [
        ("empty", AllTypes()),
        ("typical", typical),
        ("negative", negative),
        ("extremes max", extremesMax),
        ("extremes min", extremesMin),
        ("strings and bytes", strings),
        ("nested", nested),
        ("repeated", repeated),
        ("unknown enum values", unknownEnums),
        ("long fields", long),
    ]

    static var typical: AllTypes {
        AllTypes(fDouble: 3.25, fFloat: 1.5, fInt32: 150, fInt64: 1_234_567_890_123, fUint32: 300, fUint64: 1 << 40,
                 fSint32: 63, fSint64: 64, fFixed32: 0xDEAD_BEEF, fFixed64: 0x0123_4567_89AB_CDEF, fSfixed32: 7,
                 fSfixed64: 8, fBool: true, fString: "testing", fBytes: [1, 2, 3], fColor: .red)
    }

    static var negative: AllTypes {
        AllTypes(fDouble: -2.5, fFloat: -0.0, fInt32: -1, fInt64: -2, fSint32: -1, fSint64: -64, fSfixed32: -3,
                 fSfixed64: -4, fColor: .negative, fLargeNumber: -1)
    }

    static var extremesMax: AllTypes {
        AllTypes(fDouble: .greatestFiniteMagnitude, fFloat: .greatestFiniteMagnitude, fInt32: .max, fInt64: .max,
                 fUint32: .max, fUint64: .max, fSint32: .max, fSint64: .max, fFixed32: .max, fFixed64: .max,
                 fSfixed32: .max, fSfixed64: .max, fLargeNumber: .max)
    }

    static var extremesMin: AllTypes {
        AllTypes(fDouble: -.infinity, fFloat: .leastNonzeroMagnitude, fInt32: .min, fInt64: .min, fUint32: 1, fUint64: 1,
                 fSint32: .min, fSint64: .min, fFixed32: 1, fFixed64: 1, fSfixed32: .min, fSfixed64: .min,
                 rDouble: [.infinity, -0.0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude],
                 rFloat: [-.infinity, .leastNormalMagnitude, -.leastNonzeroMagnitude], fLargeNumber: .min)
    }

    static var strings: AllTypes {
        AllTypes(fString: "héllo wörld ✓ 日本語 🚀 e\u{301} \u{0}nul", fBytes: Array(0...255),
                 rString: ["", "a", "🙂", "\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}"],
                 rBytes: [[], [0], [0xFF, 0xFE]])
    }

    static var nested: AllTypes {
        var inner = AllTypes(fInt32: 3, fNested: AllTypes.Nested(a: -5, b: "deep", level: .high, values: [1, -1]))
        inner.child = AllTypes(fString: "deepest", child: AllTypes())
        return AllTypes(fNested: AllTypes.Nested(), child: inner,
                        rNested: [AllTypes.Nested(), AllTypes.Nested(a: 1), AllTypes.Nested(values: [Int64.min, .max])])
    }

    static var repeated: AllTypes {
        AllTypes(rDouble: [0, 1.5, -2.25], rFloat: [0, 0.5, -8], rInt32: [0, 1, -1, .max, .min], rInt64: [0, -1, .max, .min],
                 rUint32: [0, 1, .max], rUint64: [0, .max], rSint32: [0, -1, 1, .min, .max], rSint64: [0, -1, .min, .max],
                 rFixed32: [0, .max], rFixed64: [0, .max], rSfixed32: [.min, -1, 0, .max], rSfixed64: [.min, 0, .max],
                 rBool: [true, false, true], rString: ["x", "", "y"], rBytes: [[9], []], rColor: [.red, .unspecified, .negative],
                 uInt32: [0, -1, 300], uSint64: [-1, 0, .min], uFixed32: [0, 1, .max], uDouble: [-0.0, 1e300],
                 uColor: [.green, .negative])
    }

    static var unknownEnums: AllTypes {
        AllTypes(fColor: .unrecognized(99), fNested: AllTypes.Nested(level: .unrecognized(-7)),
                 rColor: [.unrecognized(1000), .red, .unrecognized(-1000)], uColor: [.unrecognized(Int32.max)])
    }

    static var long: AllTypes {
        let text = String(repeating: "0123456789", count: 40)
        let nested = AllTypes.Nested(a: 1, b: String(repeating: "é", count: 200), values: Array(0..<100))
        return AllTypes(fString: text, fBytes: [UInt8](repeating: 0xAB, count: 20_000), fNested: nested,
                        child: AllTypes(fString: text), rInt64: Array(-1000..<1000))
    }

    // MARK: The plain form shared with codec_reference.py

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
    }
    static func bits(_ v: Double) -> String { withUnsafeBytes(of: v.bitPattern.littleEndian) { hex($0) } }
    static func bits(_ v: Float) -> String { withUnsafeBytes(of: v.bitPattern.littleEndian) { hex($0) } }
    static func null(_ v: Any?) -> Any { v ?? NSNull() }

    static func plain(_ n: AllTypes.Nested) -> [String: Any] {
        ["a": "\(n.a)", "b": n.b, "level": "\(n.level.rawValue)", "values": n.values.map { "\($0)" }]
    }

    static func plain(_ m: AllTypes) -> [String: Any] {
        [
            "f_double": bits(m.fDouble), "f_float": bits(m.fFloat), "f_int32": "\(m.fInt32)", "f_int64": "\(m.fInt64)",
            "f_uint32": "\(m.fUint32)", "f_uint64": "\(m.fUint64)", "f_sint32": "\(m.fSint32)", "f_sint64": "\(m.fSint64)",
            "f_fixed32": "\(m.fFixed32)", "f_fixed64": "\(m.fFixed64)", "f_sfixed32": "\(m.fSfixed32)",
            "f_sfixed64": "\(m.fSfixed64)", "f_bool": m.fBool, "f_string": m.fString, "f_bytes": hex(m.fBytes),
            "f_color": "\(m.fColor.rawValue)", "f_nested": null(m.fNested.map(plain)), "child": null(m.child.map(plain)),
            "r_double": m.rDouble.map(bits), "r_float": m.rFloat.map(bits), "r_int32": m.rInt32.map { "\($0)" },
            "r_int64": m.rInt64.map { "\($0)" }, "r_uint32": m.rUint32.map { "\($0)" }, "r_uint64": m.rUint64.map { "\($0)" },
            "r_sint32": m.rSint32.map { "\($0)" }, "r_sint64": m.rSint64.map { "\($0)" },
            "r_fixed32": m.rFixed32.map { "\($0)" }, "r_fixed64": m.rFixed64.map { "\($0)" },
            "r_sfixed32": m.rSfixed32.map { "\($0)" }, "r_sfixed64": m.rSfixed64.map { "\($0)" }, "r_bool": m.rBool,
            "r_string": m.rString, "r_bytes": m.rBytes.map { hex($0) }, "r_color": m.rColor.map { "\($0.rawValue)" },
            "r_nested": m.rNested.map(plain), "u_int32": m.uInt32.map { "\($0)" }, "u_sint64": m.uSint64.map { "\($0)" },
            "u_fixed32": m.uFixed32.map { "\($0)" }, "u_double": m.uDouble.map(bits),
            "u_color": m.uColor.map { "\($0.rawValue)" }, "f_large_number": "\(m.fLargeNumber)",
        ]
    }
}
