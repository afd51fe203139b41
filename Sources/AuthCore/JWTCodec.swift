import COpenSSL

/// The claims of an access token this core issues.
public struct AccessClaims: Sendable, Equatable {
    /// `sub`: the user id.
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

    public init(userID: Int64, issuedAt: Int64, expiresAt: Int64, notBefore: Int64? = nil,
                tokenID: TokenID, sessionID: TokenID? = nil, isAdmin: Bool = false) {
        self.userID = userID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.tokenID = tokenID
        self.sessionID = sessionID
        self.isAdmin = isAdmin
    }
}

/// JWS compact serialisation with HS256 only (RFC 7515, RFC 7519): signs with the active key,
/// verifies with any configured key chosen by `kid`. The algorithm is pinned: a header whose
/// `alg` is anything but `HS256` (including `none`) is rejected before any key is used.
struct JWTCodec: Sendable {
    struct Key: Sendable {
        let id: [UInt8]
        let mac: HMACKey
    }

    enum Outcome: Equatable {
        case valid(AccessClaims)
        case expired
        case invalid
    }

    static let maximumTokenLength = 8192

    let keys: [Key]
    let active: Key
    let issuer: [UInt8]?
    let audience: [UInt8]?
    /// base64url of the header written with the active key.
    let encodedHeader: String

    init(keys: [String: [UInt8]], activeKeyID: String, issuer: String?, audience: String?) {
        let all = keys.sorted { $0.key < $1.key }.map { Key(id: Array($0.key.utf8), mac: HMACKey(secret: $0.value)) }
        self.keys = all
        active = all.first { $0.id == Array(activeKeyID.utf8) }!
        self.issuer = issuer.map { Array($0.utf8) }
        self.audience = audience.map { Array($0.utf8) }
        encodedHeader = Base64URL.encode("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"\(activeKeyID)\"}")
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
        var json = "{\"sub\":\"\(claims.userID)\",\"iat\":\(claims.issuedAt),\"exp\":\(claims.expiresAt)"
        if let nbf = claims.notBefore { json += ",\"nbf\":\(nbf)" }
        json += ",\"jti\":\"\(claims.tokenID)\""
        if let sid = claims.sessionID { json += ",\"sid\":\"\(sid)\"" }
        if claims.isAdmin { json += ",\"adm\":true" }
        if let issuer { json += ",\"iss\":" + JWTCodec.jsonString(issuer) }
        if let audience { json += ",\"aud\":" + JWTCodec.jsonString(audience) }
        json += "}"
        let signingInput = encodedHeader + "." + Base64URL.encode(json)
        let mac = active.mac.authenticate(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(mac)
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
        guard signaturePart.count == 43 else { return .invalid }
        // One scratch buffer on the stack for everything decoded: no heap allocation per call.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: t.count + 64) { scratch -> Outcome in
            let macOut = scratch.baseAddress!
            let signature = UnsafeMutableBufferPointer(rebasing: scratch[32..<64])
            let rest = UnsafeMutableBufferPointer(rebasing: scratch[64...])
            guard Base64URL.decode(signaturePart, into: signature) == 32,
                  let headerCount = Base64URL.decode(headerPart, into: rest),
                  let key = selectKey(header: UnsafeBufferPointer(rebasing: rest[..<headerCount])) else { return .invalid }
            key.mac.authenticate(UnsafeBufferPointer(rebasing: t[..<dot2]), into: macOut)
            // CRYPTO_memcmp: constant-time; 0 when equal.
            guard CRYPTO_memcmp(macOut, signature.baseAddress, 32) == 0,
                  let payloadCount = Base64URL.decode(payloadPart, into: rest),
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

    /// Reads the protected header: `alg` must be exactly HS256, `kid` must name a configured key,
    /// `crit` is refused (no extension is understood). Returns the key, or nil.
    func selectKey(header: UnsafeBufferPointer<UInt8>) -> Key? {
        var scanner = JSONScanner(header)
        var algOK = false, sawAlg = false, sawKid = false, sawTyp = false
        var key: Key?
        let ok = scanner.object { s, name in
            if s.string(name, equals: JWTCodec.algName) {
                guard !sawAlg, let v = s.string() else { return false }
                sawAlg = true
                algOK = s.string(v, equals: JWTCodec.hs256)
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
        return ok && algOK ? key : nil
    }

    /// Reads the claim set; nil when malformed, when a required claim (`sub`, `iat`, `exp`, `jti`)
    /// is missing, a claim appears twice, or `iss`/`aud` do not match the configuration.
    func parseClaims(_ payload: UnsafeBufferPointer<UInt8>) -> AccessClaims? {
        var scanner = JSONScanner(payload)
        var sub: Int64?, iat: Int64?, exp: Int64?, nbf: Int64?, jti: TokenID?, sid: TokenID?
        var adm = false, sawAdm = false
        var sawNbf = false, sawSid = false, issOK = issuer == nil, audOK = audience == nil, sawIss = false, sawAud = false
        let ok = scanner.object { s, name in
            let raw = s.bytes[name.range]
            guard !name.escaped, raw.count == 3 else { return s.skipValue() }
            let k = (raw[raw.startIndex], raw[raw.startIndex + 1], raw[raw.startIndex + 2])
            switch k {
            case (0x73, 0x75, 0x62):  // sub
                guard sub == nil, let v = s.string(), !v.escaped, let id = JWTCodec.decimal(s.bytes[v.range]) else { return false }
                sub = id
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
        guard ok, issOK, audOK, let sub, let iat, let exp, let jti else { return nil }
        return AccessClaims(userID: sub, issuedAt: iat, expiresAt: exp, notBefore: nbf, tokenID: jti, sessionID: sid, isAdmin: adm)
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
    static let typName = Array("typ".utf8), hs256 = Array("HS256".utf8)
}
