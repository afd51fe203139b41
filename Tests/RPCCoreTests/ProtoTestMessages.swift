import RPCCore

/// Hand-written messages (as rpcgen would write them) for the wire runtime's tests.
struct Probe: ProtoMessage {
    var i32: Int32 = 0  // 1
    var text: String = ""  // 2
    var packed: [Int32] = []  // 3
    var inner: Inner? = nil  // 4
    var u64: UInt64 = 0  // 5
    var s32: Int32 = 0  // 6
    var f: Float = 0  // 7
    var d: Double = 0  // 8
    var names: [String] = []  // 9

    func encode(to writer: inout ProtoWriter) {
        writer.writeInt32(i32, field: 1)
        writer.writeString(text, field: 2)
        writer.writeRepeatedInt32(packed, field: 3)
        writer.writeMessage(inner, field: 4)
        writer.writeUInt64(u64, field: 5)
        writer.writeSInt32(s32, field: 6)
        writer.writeFloat(f, field: 7)
        writer.writeDouble(d, field: 8)
        writer.writeRepeatedString(names, field: 9)
    }

    mutating func decode(from reader: inout ProtoReader) throws {
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: i32 = try reader.readInt32(tag)
            case 2: text = try reader.readString(tag)
            case 3: try reader.readRepeatedInt32(tag, into: &packed)
            case 4: try reader.readMessage(tag, into: &inner)
            case 5: u64 = try reader.readUInt64(tag)
            case 6: s32 = try reader.readSInt32(tag)
            case 7: f = try reader.readFloat(tag)
            case 8: d = try reader.readDouble(tag)
            case 9: try reader.readRepeatedString(tag, into: &names)
            default: try reader.skipField(tag)
            }
        }
    }
}

struct Inner: ProtoMessage {
    var a: Int32 = 0  // 1
    var list: [String] = []  // 2

    func encode(to writer: inout ProtoWriter) {
        writer.writeInt32(a, field: 1)
        writer.writeRepeatedString(list, field: 2)
    }

    mutating func decode(from reader: inout ProtoReader) throws {
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: a = try reader.readInt32(tag)
            case 2: try reader.readRepeatedString(tag, into: &list)
            default: try reader.skipField(tag)
            }
        }
    }
}
