/// Why bytes could not be decoded as a protobuf message. Thrown by `ProtoReader`; decoding
/// untrusted bytes never traps, it throws this.
public struct ProtoDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of malformed input the decoder tells apart.
    public enum Kind: Sendable, Equatable {
        /// The input ends inside a tag, a value or a length-delimited field.
        case truncated
        /// A varint longer than 10 bytes, or a tag that does not fit 32 bits.
        case malformedVarint
        /// A length that runs past the end of the enclosing message.
        case lengthPastEnd
        /// Field number 0 (or out of range).
        case invalidFieldNumber
        /// Wire type 6 or 7, or an end-group tag without its start.
        case invalidWireType
        /// A known field sent with a wire type that does not fit its declared type.
        case wrongWireType
        /// A `string` field whose bytes are not valid UTF-8.
        case invalidUTF8
        /// Messages (or groups) nested deeper than `ProtoReader.maxDepth`.
        case tooDeep
        /// A length-delimited sub-message that does not end exactly where its length says.
        case misalignedEnd
    }

    public var kind: Kind
    /// The byte offset in the input where the problem was found.
    public var offset: Int
    /// The field being read, when known.
    public var fieldNumber: Int?

    public init(_ kind: Kind, offset: Int, fieldNumber: Int? = nil) {
        self.kind = kind
        self.offset = offset
        self.fieldNumber = fieldNumber
    }

    public var description: String {
        let what: String
        switch kind {
        case .truncated: what = "input ends early"
        case .malformedVarint: what = "malformed varint"
        case .lengthPastEnd: what = "length runs past the end"
        case .invalidFieldNumber: what = "invalid field number"
        case .invalidWireType: what = "invalid wire type"
        case .wrongWireType: what = "wrong wire type for the field's type"
        case .invalidUTF8: what = "string is not valid UTF-8"
        case .tooDeep: what = "messages nested too deeply"
        case .misalignedEnd: what = "sub-message does not end at its length"
        }
        if let fieldNumber { return "\(what) (field \(fieldNumber), offset \(offset))" }
        return "\(what) (offset \(offset))"
    }
}
