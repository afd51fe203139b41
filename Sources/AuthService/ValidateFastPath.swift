import AuthAPI
import AuthCore
import RPCCore
import Support

/// Validate without the generated decoder's `String`s: the usual request is the `token` field
/// (1), maybe with `required_scopes` (2, repeated) and `audience` (3), all length-delimited;
/// their bytes are read where they lie in the frame (the scopes compared with the cached
/// claims', so a request with required scopes allocates nothing more either). Anything else (an
/// unknown field, a repeated `token` or `audience`, a field that is not ASCII, a malformed length)
/// returns nil and goes through the generated path, so the answers, including INVALID_ARGUMENT
/// for malformed requests, are exactly the generated code's.
enum ValidateFastPath {
    /// The encoded reply, or nil to fall back to the generated handler. Throws UNAVAILABLE as
    /// the generated path does (`AuthServiceHandler.reply`).
    static func reply(to request: [UInt8], handler: AuthServiceHandler) throws(RPCError) -> [UInt8]? {
        let outcome = request.withUnsafeBufferPointer { bytes -> (ValidationResult, Bool)? in
            guard let fields = Fields(bytes) else { return nil }
            let result = handler.core.validate(tokenBytes: fields.token)
            guard fields.hasConditions, case .valid(let claims) = result else { return (result, true) }
            return (result, fields.permits(claims, audience: handler.core.configuration.audience, in: bytes))
        }
        guard let (result, permitted) = outcome else { return nil }
        return try handler.reply(result, permitted: permitted).serializedBytes()
    }

    /// Where the fields of a ValidateRequest lie in its bytes.
    struct Fields {
        var token: UnsafeBufferPointer<UInt8>
        /// Whether the request has required scopes or an audience.
        var hasConditions = false

        /// Nil unless the message is fields 1, 2 and 3 only (1 and 3 at most once), each ASCII.
        init?(_ m: UnsafeBufferPointer<UInt8>) {
            var sawToken = false, sawAudience = false
            token = UnsafeBufferPointer(rebasing: m[0..<0])
            var i = 0
            while i < m.count {
                guard let (field, value, next) = Self.field(m, at: i), UnsafeRawBufferPointer(value).isASCII else { return nil }
                switch field {
                case 1:
                    guard !sawToken else { return nil }
                    sawToken = true
                    token = value
                case 2:
                    hasConditions = true
                case 3:
                    guard !sawAudience else { return nil }
                    sawAudience = true
                    hasConditions = hasConditions || !value.isEmpty
                default:
                    return nil
                }
                i = next
            }
        }

        /// Every required scope among the claims' scopes, and the audience (if any) the configured
        /// one (`AuthServiceHandler.permits`).
        func permits(_ claims: AccessClaims, audience configured: String?, in m: UnsafeBufferPointer<UInt8>) -> Bool {
            var i = 0
            while i < m.count, let (field, value, next) = Self.field(m, at: i) {
                switch field {
                case 2:
                    guard claims.scopes.contains(where: { $0.utf8.elementsEqual(value) }) else { return false }
                case 3:
                    guard value.isEmpty || configured.map({ $0.utf8.elementsEqual(value) }) == true else { return false }
                default:
                    break
                }
                i = next
            }
            return true
        }

        /// The length-delimited field (number 1 to 15) at `i`: its number, its bytes and where the next begins.
        static func field(_ m: UnsafeBufferPointer<UInt8>, at start: Int) -> (Int, UnsafeBufferPointer<UInt8>, Int)? {
            let tag = m[start]
            guard tag & 0x07 == 2, tag & 0x80 == 0 else { return nil }  // wire type 2, a one-byte tag
            // The length: a varint of at most 3 bytes (2 MiB; the transport caps frames anyway).
            var length = 0, shift = 0, i = start + 1
            while true {
                guard i < m.count, i <= start + 3 else { return nil }
                let byte = m[i]
                length |= Int(byte & 0x7F) << shift
                i += 1
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            guard length <= m.count - i else { return nil }
            return (Int(tag >> 3), UnsafeBufferPointer(rebasing: m[i..<(i + length)]), i + length)
        }
    }
}

/// The method table authd serves (the generated one, with Validate's handler reading in place).
public struct AuthServiceMethods: RPCServiceProvider {
    public let methods: [ServerMethod]
}
