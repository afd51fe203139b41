/// Appends protobuf binary encoding to a byte array. The `write…` methods follow proto3: a
/// singular field at its default (0, false, "", empty bytes, nil message) is not written;
/// repeated numeric fields are packed unless told otherwise.
public struct ProtoWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: Primitives

    /// Appends a base-128 varint.
    @inline(__always)
    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// The number of bytes `appendVarint` writes for `value` (1…10).
    @inline(__always)
    public static func varintSize(_ value: UInt64) -> Int {
        let bits = 64 - value.leadingZeroBitCount
        return bits <= 7 ? 1 : (bits + 6) / 7
    }

    @inline(__always)
    public mutating func appendTag(_ field: Int, _ wireType: WireType) {
        appendVarint(UInt64(truncatingIfNeeded: field) << 3 | UInt64(wireType.rawValue))
    }

    @inline(__always)
    public mutating func appendFixed32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    public mutating func appendFixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends raw bytes (already encoded).
    public mutating func appendRaw(_ raw: some Collection<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    @inline(__always) static func int32Varint(_ v: Int32) -> UInt64 { UInt64(bitPattern: Int64(v)) }
    @inline(__always) static func zigzag32(_ v: Int32) -> UInt64 { UInt64(UInt32(bitPattern: (v &<< 1) ^ (v >> 31))) }
    @inline(__always) static func zigzag64(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v &<< 1) ^ (v >> 63)) }

    // MARK: Singular fields (skipped at their default)

    public mutating func writeInt32(_ v: Int32, field: Int) {
        if v != 0 { appendTag(field, .varint); appendVarint(Self.int32Varint(v)) }
    }
    public mutating func writeInt64(_ v: Int64, field: Int) {
        if v != 0 { appendTag(field, .varint); appendVarint(UInt64(bitPattern: v)) }
    }
    public mutating func writeUInt32(_ v: UInt32, field: Int) {
        if v != 0 { appendTag(field, .varint); appendVarint(UInt64(v)) }
    }
    public mutating func writeUInt64(_ v: UInt64, field: Int) {
        if v != 0 { appendTag(field, .varint); appendVarint(v) }
    }
    public mutating func writeSInt32(_ v: Int32, field: Int) {
        if v != 0 { appendTag(field, .varint); appendVarint(Self.zigzag32(v)) }
    }
    public mutating func writeSInt64(_ v: Int64, field: Int) {
        if v != 0 { appendTag(field, .varint); appendVarint(Self.zigzag64(v)) }
    }
    public mutating func writeBool(_ v: Bool, field: Int) {
        if v { appendTag(field, .varint); bytes.append(1) }
    }
    public mutating func writeEnum<E: ProtoEnum>(_ v: E, field: Int) {
        writeInt32(v.rawValue, field: field)
    }
    public mutating func writeFixed32(_ v: UInt32, field: Int) {
        if v != 0 { appendTag(field, .fixed32); appendFixed32(v) }
    }
    public mutating func writeFixed64(_ v: UInt64, field: Int) {
        if v != 0 { appendTag(field, .fixed64); appendFixed64(v) }
    }
    public mutating func writeSFixed32(_ v: Int32, field: Int) {
        writeFixed32(UInt32(bitPattern: v), field: field)
    }
    public mutating func writeSFixed64(_ v: Int64, field: Int) {
        writeFixed64(UInt64(bitPattern: v), field: field)
    }
    /// Skipped only for +0.0 (as protobuf: -0.0 is written).
    public mutating func writeFloat(_ v: Float, field: Int) {
        writeFixed32(v.bitPattern, field: field)
    }
    public mutating func writeDouble(_ v: Double, field: Int) {
        writeFixed64(v.bitPattern, field: field)
    }
    public mutating func writeString(_ v: String, field: Int) {
        if !v.isEmpty { appendTag(field, .lengthDelimited); appendString(v) }
    }
    public mutating func writeBytes(_ v: [UInt8], field: Int) {
        if !v.isEmpty { appendTag(field, .lengthDelimited); appendVarint(UInt64(v.count)); bytes.append(contentsOf: v) }
    }
    /// Writes a set message field (even when all its fields are defaults); nil is not written.
    public mutating func writeMessage<M: ProtoMessage>(_ v: M?, field: Int) {
        if let v { appendTag(field, .lengthDelimited); appendNested(v) }
    }

    private mutating func appendString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            appendVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Writes a one-byte length placeholder, the message, then patches the length in (moving
    /// the body when the length needs more than one byte).
    private mutating func appendNested<M: ProtoMessage>(_ message: M) {
        let lengthAt = bytes.count
        bytes.append(0)
        message.encode(to: &self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
            return
        }
        let size = Self.varintSize(UInt64(length))
        bytes.insert(contentsOf: repeatElement(0, count: size - 1), at: lengthAt + 1)
        var v = UInt64(length), i = lengthAt
        while v >= 0x80 {
            bytes[i] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            i += 1
        }
        bytes[i] = UInt8(v)
    }

    // MARK: Repeated fields

    private mutating func repeatedVarint<T>(_ values: [T], field: Int, packed: Bool, _ convert: (T) -> UInt64) {
        guard !values.isEmpty else { return }
        if packed {
            var size = 0
            for v in values { size += Self.varintSize(convert(v)) }
            appendTag(field, .lengthDelimited)
            appendVarint(UInt64(size))
            for v in values { appendVarint(convert(v)) }
        } else {
            for v in values { appendTag(field, .varint); appendVarint(convert(v)) }
        }
    }

    private mutating func repeatedFixed32<T>(_ values: [T], field: Int, packed: Bool, _ convert: (T) -> UInt32) {
        guard !values.isEmpty else { return }
        if packed {
            appendTag(field, .lengthDelimited)
            appendVarint(UInt64(values.count) * 4)
            for v in values { appendFixed32(convert(v)) }
        } else {
            for v in values { appendTag(field, .fixed32); appendFixed32(convert(v)) }
        }
    }

    private mutating func repeatedFixed64<T>(_ values: [T], field: Int, packed: Bool, _ convert: (T) -> UInt64) {
        guard !values.isEmpty else { return }
        if packed {
            appendTag(field, .lengthDelimited)
            appendVarint(UInt64(values.count) * 8)
            for v in values { appendFixed64(convert(v)) }
        } else {
            for v in values { appendTag(field, .fixed64); appendFixed64(convert(v)) }
        }
    }

    public mutating func writeRepeatedInt32(_ v: [Int32], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed, Self.int32Varint)
    }
    public mutating func writeRepeatedInt64(_ v: [Int64], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed) { UInt64(bitPattern: $0) }
    }
    public mutating func writeRepeatedUInt32(_ v: [UInt32], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed) { UInt64($0) }
    }
    public mutating func writeRepeatedUInt64(_ v: [UInt64], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed) { $0 }
    }
    public mutating func writeRepeatedSInt32(_ v: [Int32], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed, Self.zigzag32)
    }
    public mutating func writeRepeatedSInt64(_ v: [Int64], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed, Self.zigzag64)
    }
    public mutating func writeRepeatedBool(_ v: [Bool], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed) { $0 ? 1 : 0 }
    }
    public mutating func writeRepeatedEnum<E: ProtoEnum>(_ v: [E], field: Int, packed: Bool = true) {
        repeatedVarint(v, field: field, packed: packed) { Self.int32Varint($0.rawValue) }
    }
    public mutating func writeRepeatedFixed32(_ v: [UInt32], field: Int, packed: Bool = true) {
        repeatedFixed32(v, field: field, packed: packed) { $0 }
    }
    public mutating func writeRepeatedSFixed32(_ v: [Int32], field: Int, packed: Bool = true) {
        repeatedFixed32(v, field: field, packed: packed) { UInt32(bitPattern: $0) }
    }
    public mutating func writeRepeatedFloat(_ v: [Float], field: Int, packed: Bool = true) {
        repeatedFixed32(v, field: field, packed: packed) { $0.bitPattern }
    }
    public mutating func writeRepeatedFixed64(_ v: [UInt64], field: Int, packed: Bool = true) {
        repeatedFixed64(v, field: field, packed: packed) { $0 }
    }
    public mutating func writeRepeatedSFixed64(_ v: [Int64], field: Int, packed: Bool = true) {
        repeatedFixed64(v, field: field, packed: packed) { UInt64(bitPattern: $0) }
    }
    public mutating func writeRepeatedDouble(_ v: [Double], field: Int, packed: Bool = true) {
        repeatedFixed64(v, field: field, packed: packed) { $0.bitPattern }
    }
    /// Every element is written, empty strings too.
    public mutating func writeRepeatedString(_ v: [String], field: Int) {
        for s in v { appendTag(field, .lengthDelimited); appendString(s) }
    }
    public mutating func writeRepeatedBytes(_ v: [[UInt8]], field: Int) {
        for b in v { appendTag(field, .lengthDelimited); appendVarint(UInt64(b.count)); bytes.append(contentsOf: b) }
    }
    public mutating func writeRepeatedMessage<M: ProtoMessage>(_ v: [M], field: Int) {
        for m in v { appendTag(field, .lengthDelimited); appendNested(m) }
    }
}
