@testable import AuthCore

/// Fuzz target: the JWT parser and verifier (JWTCodec, Base64URL, JSONScanner). Three ways in,
/// chosen by the first byte, so inputs reach past the signature check:
///  0: the input is a whole token, verified as is (and its bytes also fed to the claims and header parsers);
///  1: the input is a claim set, wrapped in a correctly signed token and verified;
///  2: the input is a protected header, wrapped with a valid payload and a correct signature.
/// Whatever verifies as valid must carry claims that sign again to a token that verifies the same.
/// Run by libFuzzer (scripts/fuzz jwt, the fuzz-jwt executable) and over the committed corpus
/// by HardeningTests/FuzzCorpusReplayTests.
public enum JWTFuzzTarget {
    static let codec = JWTCodec(keys: ["k1": Array("fuzz-secret-one".utf8), "k2": Array("fuzz-secret-two".utf8)],
                                activeKeyID: "k1", issuer: "fuzz-iss", audience: "fuzz-aud")
    static let signingKey = Array("fuzz-secret-one".utf8)
    static let goodHeader = Base64URL.encode("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}")
    static let goodPayload = Base64URL.encode(
        "{\"sub\":\"7\",\"iat\":1,\"exp\":4000000000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"iss\":\"fuzz-iss\",\"aud\":\"fuzz-aud\"}")

    static func signed(header: String, payload: String) -> String {
        let input = header + "." + payload
        return input + "." + Base64URL.encode(JWTCodec.hmacSHA256(key: signingKey, data: Array(input.utf8)))
    }

    public static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        let outcome: JWTCodec.Outcome
        switch first % 3 {
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
            precondition(codec.verify(codec.sign(claims), now: 1000, leeway: 0) == .valid(claims),
                         "claims that verified do not survive signing again")
        }
    }
}
