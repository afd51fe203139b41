// libFuzzer target: the JWT parser and verifier (AuthCore's JWTCodec, Base64URL, JSONScanner).
// Three ways in, chosen by the first byte, so the fuzzer reaches past the signature check:
//  0: the input is a whole token, verified as is;
//  1: the input is a claim set, wrapped in a correctly signed token and verified (claims parser);
//  2: the input is a protected header, wrapped with a valid payload and signature (header parser).
// Whatever verifies as valid must carry claims that sign again to a token that verifies the same.
// Built by scripts/fuzz with the few AuthCore files it needs.

let codec = JWTCodec(keys: ["k1": Array("fuzz-secret-one".utf8), "k2": Array("fuzz-secret-two".utf8)],
                     activeKeyID: "k1", issuer: "fuzz-iss", audience: "fuzz-aud")
let signingKey = Array("fuzz-secret-one".utf8)
let goodHeader = Base64URL.encode("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}")
let goodPayload = Base64URL.encode("{\"sub\":\"7\",\"iat\":1,\"exp\":4000000000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"iss\":\"fuzz-iss\",\"aud\":\"fuzz-aud\"}")

func signed(header: String, payload: String) -> String {
    let input = header + "." + payload
    return input + "." + Base64URL.encode(JWTCodec.hmacSHA256(key: signingKey, data: Array(input.utf8)))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let outcome: JWTCodec.Outcome
    switch data[0] % 3 {
    case 0:
        outcome = body.withUnsafeBufferPointer { codec.verify($0, now: 1000, leeway: 0) }
        _ = body.withUnsafeBufferPointer { codec.parseClaims($0) }
        _ = body.withUnsafeBufferPointer { codec.selectKey(header: $0) }
    case 1:
        outcome = codec.verify(signed(header: goodHeader, payload: Base64URL.encode(body)), now: 1000, leeway: 0)
    default:
        outcome = codec.verify(signed(header: Base64URL.encode(body), payload: goodPayload), now: 1000, leeway: 0)
    }
    if case .valid(let claims) = outcome {
        guard codec.verify(codec.sign(claims), now: 1000, leeway: 0) == .valid(claims) else {
            fatalError("claims that verified do not survive signing again")
        }
    }
    return 0
}
