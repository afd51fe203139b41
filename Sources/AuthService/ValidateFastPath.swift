import AuthAPI
import AuthCore
import RPCCore
import Support

/// Validate without the generated decoder's `String`: the usual request is exactly one field,
/// `token` (field 1, length-delimited), whose bytes are validated where they lie in the frame.
/// Anything else (no field or other fields, a repeated field, a token that is not ASCII, a
/// malformed length) returns nil and goes through the generated path, so the answers, including
/// INVALID_ARGUMENT for malformed requests, are exactly the generated code's.
enum ValidateFastPath {
    /// The encoded reply, or nil to fall back to the generated handler. Throws UNAVAILABLE as
    /// the generated path does (`AuthServiceHandler.reply`).
    static func reply(to request: [UInt8], handler: AuthServiceHandler) throws(RPCError) -> [UInt8]? {
        let result = request.withUnsafeBufferPointer { bytes -> ValidationResult? in
            guard let token = tokenField(bytes) else { return nil }
            return handler.core.validate(tokenBytes: token)
        }
        guard let result else { return nil }
        return try handler.reply(result).serializedBytes()
    }

    /// The bytes of field 1 when the message is that one field and nothing else and they are
    /// ASCII (so the generated decoder would have accepted them as a UTF-8 string). An empty
    /// message is the empty token.
    static func tokenField(_ m: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        if m.isEmpty { return m }
        guard m.count >= 2, m[0] == 0x0A else { return nil }  // tag: field 1, wire type 2
        // The length: a varint of at most 3 bytes (2 MiB; the transport caps frames anyway).
        var length = 0, shift = 0, i = 1
        while true {
            guard i < m.count, i <= 3 else { return nil }
            let byte = m[i]
            length |= Int(byte & 0x7F) << shift
            i += 1
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        // Exactly one field: a repeated `token` or any other field takes the generated path.
        guard length == m.count - i else { return nil }
        let token = UnsafeBufferPointer(rebasing: m[i...])
        return UnsafeRawBufferPointer(token).isASCII ? token : nil
    }
}

/// The method table authd serves (the generated one, with Validate's handler reading in place).
public struct AuthServiceMethods: RPCServiceProvider {
    public let methods: [ServerMethod]
}
