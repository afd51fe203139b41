import COpenSSL

/// The claims of an access token this core issues.
public struct AccessClaims: Sendable, Equatable {
    /// `sub`: the user id; for a service token (`sub` "svc:<client id>") its revocation key
    /// (`ServiceIdentity.revocationKey`, always negative, so never a user's).
    public var userID: Int64
    /// `iat`, `exp`, `nbf` in seconds since 1970.
    public var issuedAt: Int64
    public var expiresAt: Int64
    public var notBefore: Int64?
    /// `jti`: 128 random bits.
    public var tokenID: TokenID
    /// `sid`: the refresh-token family (session) the token belongs to, when any.
    public var sessionID: TokenID?
    /// `adm`: the user was an administrator when the token was issued (so `Validate` can say so
    /// without the database). Withdrawn rights show in tokens issued afterwards; `RevokeAll`
    /// checks the database, not this claim.
    public var isAdmin: Bool
    /// `sub` of a service token ("svc:<client id>"; nil for a user's), kept whole so that
    /// answering it costs no allocation on a validated-token cache hit.
    private var serviceSubject: String?
    /// `scope`: the granted scopes (space-separated in the token).
    public var scopes: [String]
    /// `roles`: the user's roles when the token was issued.
    public var roles: [String]

    public init(userID: Int64, issuedAt: Int64, expiresAt: Int64, notBefore: Int64? = nil,
                tokenID: TokenID, sessionID: TokenID? = nil, isAdmin: Bool = false, clientID: String? = nil,
                scopes: [String] = [], roles: [String] = []) {
        self.userID = userID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.tokenID = tokenID
        self.sessionID = sessionID
        self.isAdmin = isAdmin
        self.serviceSubject = clientID.map { ServiceIdentity.subjectPrefix + $0 }
        self.scopes = scopes
        self.roles = roles
    }

    /// The service account's client id, for a service token (nil for a user's).
    public var clientID: String? { serviceSubject.map { String($0.utf8.dropFirst(ServiceIdentity.subjectPrefix.utf8.count))! } }

    /// Whether the token stands for a service account.
    public var isService: Bool { serviceSubject != nil }

    /// `sub` as the token carries it: the user's decimal id, or "svc:" and the client id.
    public var subject: String { serviceSubject ?? String(userID) }
}

/// JWS compact serialisation with HS256 and EdDSA (RFC 7515, RFC 7519, RFC 8037): signs with the
/// active key, verifies with any configured key chosen by `kid`. The algorithm is pinned to the
/// key: a header whose `alg` is not exactly the algorithm of the key its `kid` names (including
/// `none`, or `HS256` with an Ed25519 key's id) is rejected before any key is used.
struct JWTCodec: Sendable {
    /// How a key checks (and, when it can, makes) signatures.
    enum Verifier: Sendable {
        case hmac(HMACKey)
        case ed25519(Ed25519Key)

        var algorithm: TokenAlgorithm {
            switch self {
            case .hmac: .hs256
            case .ed25519: .eddsa
            }
        }

        /// The signature's size in bytes.
        var signatureSize: Int {
            switch self {
            case .hmac: 32
            case .ed25519: Ed25519Key.signatureSize
            }
        }
    }

    struct Key: Sendable {
        let id: [UInt8]
        let verifier: Verifier
        var kid: String { String(decoding: id, as: UTF8.self) }

        init(id: String, verifier: Verifier) {
            self.id = Array(id.utf8)
            self.verifier = verifier
        }
    }

    enum Outcome: Equatable {
        case valid(AccessClaims)
        case expired
        case invalid
    }

    static let maximumTokenLength = 8192

    let keys: [Key]
    /// The key that signs; nil for a verify-only codec.
    let active: Key?
    let issuer: [UInt8]?
    let audience: [UInt8]?
    /// base64url of the header written with the active key.
    let encodedHeader: String

    /// HMAC keys by id, `activeKeyID` signing.
    init(keys: [String: [UInt8]], activeKeyID: String, issuer: String?, audience: String?) {
        let all = keys.sorted { $0.key < $1.key }.map { Key(id: $0.key, verifier: .hmac(HMACKey(secret: $0.value))) }
        self.init(keys: all, activeKeyID: activeKeyID, issuer: issuer, audience: audience)
    }

    /// Any keys (their ids distinct); `activeKeyID` signs (nil: none does). An Ed25519 key that
    /// signs must hold its private key.
    init(keys: [Key], activeKeyID: String?, issuer: String?, audience: String?) {
        self.keys = keys
        active = activeKeyID.map { kid in keys.first { $0.id == Array(kid.utf8) }! }
        self.issuer = issuer.map { Array($0.utf8) }
        self.audience = audience.map { Array($0.utf8) }
        switch active?.verifier {
        case .hmac?, nil:
            encodedHeader = Base64URL.encode("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"\(activeKeyID ?? "")\"}")
        case .ed25519?:
            encodedHeader = Base64URL.encode("{\"alg\":\"EdDSA\",\"kid\":\"\(activeKeyID ?? "")\",\"typ\":\"JWT\"}")
        }
    }

    /// Key ids are written into JSON unescaped, so they are restricted to a safe alphabet.
    static func isValidKeyID(_ kid: String) -> Bool {
        let u = Array(kid.utf8)
        return (1...64).contains(u.count) && u.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 46 || c == 95 || c == 45
        }
    }

    // MARK: Signing

    func sign(_ claims: AccessClaims) -> String {
        // Client ids, scopes and roles are restricted to a safe alphabet (`ServiceIdentity`), so
        // they go into the JSON unescaped.
        var json = "{\"sub\":\"\(claims.subject)\",\"iat\":\(claims.issuedAt),\"exp\":\(claims.expiresAt)"
        if let nbf = claims.notBefore { json += ",\"nbf\":\(nbf)" }
        json += ",\"jti\":\"\(claims.tokenID)\""
        if let sid = claims.sessionID { json += ",\"sid\":\"\(sid)\"" }
        if claims.isAdmin { json += ",\"adm\":true" }
        if claims.isService { json += ",\"scope\":\"" + claims.scopes.joined(separator: " ") + "\"" }
        if !claims.roles.isEmpty { json += ",\"roles\":[" + claims.roles.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
        if let issuer { json += ",\"iss\":" + JWTCodec.jsonString(issuer) }
        if let audience { json += ",\"aud\":" + JWTCodec.jsonString(audience) }
        json += "}"
        let signingInput = encodedHeader + "." + Base64URL.encode(json)
        guard let active else { preconditionFailure("signing with a verify-only codec") }
        let signature = switch active.verifier {
        case .hmac(let mac): mac.authenticate(Array(signingInput.utf8))
        case .ed25519(let key): key.sign(Array(signingInput.utf8))
        }
        return signingInput + "." + Base64URL.encode(signature)
    }

    static func jsonString(_ bytes: [UInt8]) -> String {
        var out = "\""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in hmacSHA256(key: key, data: d, into: o.baseAddress!) }
        }
        return out
    }

    /// HMAC-SHA256 into a 32-byte buffer.
    static func hmacSHA256(key: [UInt8], data: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) {
        var length: UInt32 = 0
        // HMAC returns NULL only on an internal failure (no digest, allocation failure): a broken
        // library, not an input we can cause.
        let result = key.withUnsafeBufferPointer { k in
            HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), data.baseAddress, data.count, out, &length)
        }
        precondition(result != nil && length == 32, "HMAC-SHA256 failed inside OpenSSL")
    }

    // MARK: Verification

    /// Verifies signature, algorithm, key id, structure and claims; `now` in seconds.
    func verify(_ token: String, now: Double, leeway: Double) -> Outcome {
        var token = token
        return token.withUTF8 { verify($0, now: now, leeway: leeway) }
    }

    func verify(_ t: UnsafeBufferPointer<UInt8>, now: Double, leeway: Double) -> Outcome {
        guard t.count <= JWTCodec.maximumTokenLength,
              let dot1 = t.firstIndex(of: UInt8(ascii: ".")) else { return .invalid }
        let rest = UnsafeBufferPointer(rebasing: t[(dot1 + 1)...])
        guard let dot2rel = rest.firstIndex(of: UInt8(ascii: ".")) else { return .invalid }
        let dot2 = dot1 + 1 + dot2rel
        let headerPart = UnsafeBufferPointer(rebasing: t[..<dot1])
        let payloadPart = UnsafeBufferPointer(rebasing: t[(dot1 + 1)..<dot2])
        let signaturePart = UnsafeBufferPointer(rebasing: t[(dot2 + 1)...])
        // 32 bytes (HS256) or 64 (EdDSA), unpadded base64url.
        guard signaturePart.count == 43 || signaturePart.count == 86 else { return .invalid }
        // One scratch buffer on the stack for everything decoded: no heap allocation per call.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: t.count + 96) { scratch -> Outcome in
            let signature = UnsafeMutableBufferPointer(rebasing: scratch[0..<64])
            let macOut = scratch.baseAddress! + 64
            let rest = UnsafeMutableBufferPointer(rebasing: scratch[96...])
            guard let signatureCount = Base64URL.decode(signaturePart, into: signature),
                  let headerCount = Base64URL.decode(headerPart, into: rest),
                  let key = selectKey(header: UnsafeBufferPointer(rebasing: rest[..<headerCount])),
                  signatureCount == key.verifier.signatureSize else { return .invalid }
            let signingInput = UnsafeBufferPointer(rebasing: t[..<dot2])
            switch key.verifier {
            case .hmac(let mac):
                mac.authenticate(signingInput, into: macOut)
                // CRYPTO_memcmp: constant-time; 0 when equal.
                guard CRYPTO_memcmp(macOut, signature.baseAddress, 32) == 0 else { return .invalid }
            case .ed25519(let publicKey):
                guard publicKey.verify(signingInput, signature: UnsafeBufferPointer(rebasing: signature[..<signatureCount])) else {
                    return .invalid
                }
            }
            guard let payloadCount = Base64URL.decode(payloadPart, into: rest),
                  let claims = parseClaims(UnsafeBufferPointer(rebasing: rest[..<payloadCount])) else { return .invalid }
            return JWTCodec.checkTime(claims, now: now, leeway: leeway)
        }
    }

    /// The time rules of a token whose signature and claims are good: expired once `exp` (plus
    /// the leeway) has passed, invalid before `nbf` (less the leeway). Also applied to the
    /// validated-token cache's hits.
    static func checkTime(_ claims: AccessClaims, now: Double, leeway: Double) -> Outcome {
        if Double(claims.expiresAt) + leeway <= now { return .expired }
        if let nbf = claims.notBefore, Double(nbf) - leeway > now { return .invalid }
        return .valid(claims)
    }

    /// Reads the protected header: `kid` must name a configured key and `alg` must be exactly
    /// that key's algorithm (never the header's choice); `crit` is refused (no extension is
    /// understood). Returns the key, or nil.
    func selectKey(header: UnsafeBufferPointer<UInt8>) -> Key? {
        var scanner = JSONScanner(header)
        var alg: TokenAlgorithm?
        var sawAlg = false, sawKid = false, sawTyp = false
        var key: Key?
        let ok = scanner.object { s, name in
            if s.string(name, equals: JWTCodec.algName) {
                guard !sawAlg, let v = s.string() else { return false }
                sawAlg = true
                alg = s.string(v, equals: JWTCodec.hs256) ? .hs256 : s.string(v, equals: JWTCodec.eddsa) ? .eddsa : nil
                return true
            }
            if s.string(name, equals: JWTCodec.kidName) {
                guard !sawKid, let v = s.string() else { return false }
                sawKid = true
                key = keys.first { s.string(v, equals: $0.id) }
                return true
            }
            if s.string(name, equals: JWTCodec.critName) { return false }
            if s.string(name, equals: JWTCodec.typName) {
                guard !sawTyp else { return false }
                sawTyp = true
            }
            return s.skipValue()
        }
        guard ok, let alg, let key, key.verifier.algorithm == alg else { return nil }
        return key
    }

    /// Reads the claim set; nil when malformed, when a required claim (`sub`, `iat`, `exp`, `jti`)
    /// is missing, a claim appears twice, or `iss`/`aud` do not match the configuration.
    func parseClaims(_ payload: UnsafeBufferPointer<UInt8>) -> AccessClaims? {
        var scanner = JSONScanner(payload)
        var sub: Int64?, iat: Int64?, exp: Int64?, nbf: Int64?, jti: TokenID?, sid: TokenID?
        var adm = false, sawAdm = false
        var clientID: String?, scopes: [String] = [], roles: [String] = []
        var sawScope = false, sawRoles = false
        var sawNbf = false, sawSid = false, issOK = issuer == nil, audOK = audience == nil, sawIss = false, sawAud = false
        let ok = scanner.object { s, name in
            let raw = s.bytes[name.range]
            guard !name.escaped else { return s.skipValue() }
            if raw.count == 5 {
                if s.string(name, equals: JWTCodec.scopeName) {  // scope: space-separated
                    guard !sawScope, let v = s.string(), !v.escaped,
                          let list = ServiceIdentity.words(s.bytes[v.range], separator: UInt8(ascii: " ")) else { return false }
                    sawScope = true
                    scopes = list
                    return true
                }
                if s.string(name, equals: JWTCodec.rolesName) {  // roles: an array of strings
                    guard !sawRoles, s.consume(UInt8(ascii: "[")) else { return false }
                    sawRoles = true
                    if s.consume(UInt8(ascii: "]")) { return true }
                    repeat {
                        guard let v = s.string(), !v.escaped, let role = ServiceIdentity.name(s.bytes[v.range]) else { return false }
                        roles.append(role)
                    } while s.consume(UInt8(ascii: ","))
                    return s.consume(UInt8(ascii: "]"))
                }
                return s.skipValue()
            }
            guard raw.count == 3 else { return s.skipValue() }
            let k = (raw[raw.startIndex], raw[raw.startIndex + 1], raw[raw.startIndex + 2])
            switch k {
            case (0x73, 0x75, 0x62):  // sub: a user's decimal id, or "svc:" and a client id
                guard sub == nil, let v = s.string(), !v.escaped else { return false }
                if let id = JWTCodec.decimal(s.bytes[v.range]) {
                    sub = id
                } else if let client = ServiceIdentity.clientID(subject: s.bytes[v.range]) {
                    clientID = client
                    sub = ServiceIdentity.revocationKey(client)
                } else {
                    return false
                }
            case (0x69, 0x61, 0x74):  // iat
                guard iat == nil, let v = s.integer() else { return false }
                iat = v
            case (0x65, 0x78, 0x70):  // exp
                guard exp == nil, let v = s.integer() else { return false }
                exp = v
            case (0x6E, 0x62, 0x66):  // nbf
                guard !sawNbf, let v = s.integer() else { return false }
                sawNbf = true
                nbf = v
            case (0x6A, 0x74, 0x69):  // jti
                guard jti == nil, let v = s.string(), !v.escaped,
                      let id = JWTCodec.tokenID(UnsafeBufferPointer(rebasing: s.bytes[v.range])) else { return false }
                jti = id
            case (0x73, 0x69, 0x64):  // sid
                guard !sawSid, let v = s.string(), !v.escaped,
                      let id = JWTCodec.tokenID(UnsafeBufferPointer(rebasing: s.bytes[v.range])) else { return false }
                sawSid = true
                sid = id
            case (0x61, 0x64, 0x6D):  // adm
                guard !sawAdm, let v = s.boolean() else { return false }
                sawAdm = true
                adm = v
            case (0x69, 0x73, 0x73):  // iss
                guard !sawIss, let v = s.string() else { return false }
                sawIss = true
                if let issuer { issOK = s.string(v, equals: issuer) }
            case (0x61, 0x75, 0x64):  // aud: a string or an array of strings
                guard !sawAud else { return false }
                sawAud = true
                if s.peek() == UInt8(ascii: "[") {
                    _ = s.consume(UInt8(ascii: "["))
                    if s.consume(UInt8(ascii: "]")) { return true }
                    repeat {
                        guard let v = s.string() else { return false }
                        if let audience, s.string(v, equals: audience) { audOK = true }
                    } while s.consume(UInt8(ascii: ","))
                    return s.consume(UInt8(ascii: "]"))
                }
                guard let v = s.string() else { return false }
                if let audience { audOK = s.string(v, equals: audience) }
            default:
                return s.skipValue()
            }
            return true
        }
        // A service token always has its `scope` (maybe empty); a user's never has one.
        guard ok, issOK, audOK, let sub, let iat, let exp, let jti, sawScope == (clientID != nil) else { return nil }
        return AccessClaims(userID: sub, issuedAt: iat, expiresAt: exp, notBefore: nbf, tokenID: jti, sessionID: sid, isAdmin: adm,
                            clientID: clientID, scopes: scopes, roles: roles)
    }

    /// A 128-bit id from its 22 base64url characters, decoded on the stack.
    static func tokenID(_ text: UnsafeBufferPointer<UInt8>) -> TokenID? {
        guard text.count == 22 else { return nil }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { buf -> TokenID? in
            guard Base64URL.decode(text, into: buf) == 16 else { return nil }
            return TokenID(bytes: UnsafeBufferPointer(buf))
        }
    }

    /// A positive decimal user id without sign or leading zero.
    static func decimal(_ raw: Slice<UnsafeBufferPointer<UInt8>>) -> Int64? {
        guard !raw.isEmpty, raw.count <= 18, raw.first != 48 else { return nil }
        var v: Int64 = 0
        for c in raw {
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int64(c - 48)
        }
        return v
    }

    static let algName = Array("alg".utf8), kidName = Array("kid".utf8), critName = Array("crit".utf8)
    static let scopeName = Array("scope".utf8), rolesName = Array("roles".utf8)
    static let typName = Array("typ".utf8), hs256 = Array("HS256".utf8), eddsa = Array("EdDSA".utf8)
}
