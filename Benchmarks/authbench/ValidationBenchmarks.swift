import ArgumentParser
import AuthCore
import COpenSSL
import Foundation
import TestSupport

/// `validate(token:)` on one core (pin it: `taskset -c 0`): from the validated-token cache (a hit)
/// and without it (the full verification, on a core whose cache is off), beside a bare
/// HMAC-SHA256 of the same bytes through OpenSSL three ways.
struct ValidateBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Token validation on one thread: cached, uncached, and bare HMAC-SHA256.")

    @Option(help: "Validations per measurement.")
    var iterations = 500_000

    func run() throws {
        let store = InMemoryAuthStore()
        let core = try AuthCore(configuration: BenchFixtures.configuration(), store: store)
        let token = try core.register(email: "bench@example.com", password: "a long passphrase", clientAddress: nil).accessToken
        // Some revoked ids in memory, as in production.
        for i in 0..<1000 {
            let t = try core.login(email: "bench@example.com", password: "a long passphrase", clientAddress: "10.0.\(i / 250).\(i % 250)")
            try core.logout(token: t.accessToken)
        }
        // The same store and revocations, with the validated-token cache off: every call verifies in full.
        var uncachedConfiguration = BenchFixtures.configuration()
        uncachedConfiguration.validationCacheCapacity = 0
        let uncachedCore = try AuthCore(configuration: uncachedConfiguration, store: store)
        try uncachedCore.pollRevocations()
        guard case .valid = core.validate(token: token), case .valid = uncachedCore.validate(token: token) else {
            throw ValidationError("the benchmark token does not validate")
        }

        // EdDSA: a core with a key set on the same store (it makes an Ed25519 key), cached and not.
        var eddsaConfiguration = BenchFixtures.configuration()
        eddsaConfiguration.keySet = KeySetConfiguration(encryptionKey: .random(), signingAlgorithm: .eddsa)
        let eddsaCore = try AuthCore(configuration: eddsaConfiguration, store: store)
        eddsaConfiguration.validationCacheCapacity = 0
        let eddsaUncachedCore = try AuthCore(configuration: eddsaConfiguration, store: store)
        let eddsaToken = Array(try eddsaCore.login(email: "bench@example.com", password: "a long passphrase", clientAddress: nil)
            .accessToken.utf8)

        let iterations = self.iterations
        let signingInput = Array(token.utf8[..<token.utf8.lastIndex(of: UInt8(ascii: "."))!])
        let key = BenchFixtures.key

        func measure(_ body: () -> Int) -> Double {
            _ = body()  // warm-up
            let start = DispatchTime.now().uptimeNanoseconds
            let sink = body()
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
            precondition(sink > 0, "the measured loop did nothing")
            return elapsed / Double(iterations)
        }
        let validateNs = measure {
            var ok = 0
            for _ in 0..<iterations { if case .valid = core.validate(token: token) { ok += 1 } }
            return ok
        }
        let tokenBytes = Array(token.utf8)
        let cachedBytesNs = measure {
            var ok = 0
            tokenBytes.withUnsafeBufferPointer { t in
                for _ in 0..<iterations { if case .valid = core.validate(tokenBytes: t) { ok += 1 } }
            }
            return ok
        }
        let uncachedNs = measure {
            var ok = 0
            tokenBytes.withUnsafeBufferPointer { t in
                for _ in 0..<iterations { if case .valid = uncachedCore.validate(tokenBytes: t) { ok += 1 } }
            }
            return ok
        }
        let eddsaCachedNs = measure {
            var ok = 0
            eddsaToken.withUnsafeBufferPointer { t in
                for _ in 0..<iterations { if case .valid = eddsaCore.validate(tokenBytes: t) { ok += 1 } }
            }
            return ok
        }
        let eddsaIterations = max(1, iterations / 20)
        var eddsaUncachedNs = 0.0
        do {
            var ok = 0
            let start = DispatchTime.now().uptimeNanoseconds
            eddsaToken.withUnsafeBufferPointer { t in
                for _ in 0..<eddsaIterations { if case .valid = eddsaUncachedCore.validate(tokenBytes: t) { ok += 1 } }
            }
            precondition(ok == eddsaIterations, "the EdDSA token does not validate")
            eddsaUncachedNs = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(eddsaIterations)
        }
        let hmacNs = measure {
            var out = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 0
            var acc = 0
            for _ in 0..<iterations {
                _ = HMAC(EVP_sha256(), key, Int32(key.count), signingInput, signingInput.count, &out, &length)
                acc &+= Int(out[0]) &+ 1
            }
            return acc
        }
        // The same HMAC with the key prepared once (the way validate computes it): EVP_MAC_CTX_dup per call.
        let mac = EVP_MAC_fetch(nil, "HMAC", nil)!
        let template = EVP_MAC_CTX_new(mac)!
        defer { EVP_MAC_CTX_free(template); EVP_MAC_free(mac) }
        let digest = strdup("SHA256")!
        defer { free(digest) }
        var params = [OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()]
        // EVP_MAC_init: 1 on success, 0 on error (a bug of ours here: the key and digest are fixed).
        precondition(EVP_MAC_init(template, key, key.count, &params) == 1, "EVP_MAC_init failed")
        let preparedNs = measure {
            var out = [UInt8](repeating: 0, count: 32)
            var length = 0
            var acc = 0
            for _ in 0..<iterations {
                let ctx = EVP_MAC_CTX_dup(template)
                _ = EVP_MAC_update(ctx, signingInput, signingInput.count)
                _ = EVP_MAC_final(ctx, &out, &length, 32)
                EVP_MAC_CTX_free(ctx)
                acc &+= Int(out[0]) &+ 1
            }
            return acc
        }
        // And with one context reused, restarted without re-keying (what validate does in the steady state).
        let reusedNs = measure {
            var out = [UInt8](repeating: 0, count: 32)
            var length = 0
            var acc = 0
            let ctx = EVP_MAC_CTX_dup(template)
            defer { EVP_MAC_CTX_free(ctx) }
            for _ in 0..<iterations {
                _ = EVP_MAC_init(ctx, nil, 0, nil)
                _ = EVP_MAC_update(ctx, signingInput, signingInput.count)
                _ = EVP_MAC_final(ctx, &out, &length, 32)
                acc &+= Int(out[0]) &+ 1
            }
            return acc
        }
        print(String(format: "validate: %.0f ns/validation, %.0f validations/s on one core (token %d bytes, %d iterations; a cache hit)",
                     validateNs, 1e9 / validateNs, token.utf8.count, iterations))
        print(String(format: "validate cached, from bytes (no String): %.0f ns/validation, %.0f validations/s",
                     cachedBytesNs, 1e9 / cachedBytesNs))
        print(String(format: "validate uncached (full verification): %.0f ns/validation, %.0f validations/s; the cache saves %.1fx",
                     uncachedNs, 1e9 / uncachedNs, uncachedNs / cachedBytesNs))
        print(String(format: "validate EdDSA cached, from bytes: %.0f ns/validation, %.0f validations/s (token %d bytes; HS256 above: %.0f ns)",
                     eddsaCachedNs, 1e9 / eddsaCachedNs, eddsaToken.count, cachedBytesNs))
        print(String(format: "validate EdDSA uncached (full Ed25519 verification): %.0f ns/validation, %.0f validations/s (%d iterations)",
                     eddsaUncachedNs, 1e9 / eddsaUncachedNs, eddsaIterations))
        print(String(format: "bare HMAC-SHA256 (OpenSSL HMAC()) of the same %d bytes: %.0f ns, %.0f/s; validate costs %.1fx",
                     signingInput.count, hmacNs, 1e9 / hmacNs, validateNs / hmacNs))
        print(String(format: "bare HMAC-SHA256 with the key prepared once (EVP_MAC_CTX_dup): %.0f ns, %.0f/s; validate costs %.1fx",
                     preparedNs, 1e9 / preparedNs, validateNs / preparedNs))
        print(String(format: "bare HMAC-SHA256 with one context reused (EVP_MAC_init restart): %.0f ns, %.0f/s; validate costs %.1fx",
                     reusedNs, 1e9 / reusedNs, validateNs / reusedNs))
    }
}

/// Cached validation from 1, 2 and 4 threads at once (distinct tokens, so mostly distinct cache
/// shards; the revocation generation is one shared atomic): validations per second in all. Run it
/// unpinned to see the contention between cores.
struct ValidateThreadsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-threads", abstract: "Cached token validation from 1, 2 and 4 threads at once.")

    @Option(help: "Validations per measurement, shared out between the threads.")
    var iterations = 500_000

    func run() throws {
        let core = try AuthCore(configuration: BenchFixtures.configuration(), store: InMemoryAuthStore())
        var tokens: [[UInt8]] = []
        var refresh = try core.register(email: "threads@example.com", password: "a long passphrase", clientAddress: nil).refreshToken
        for _ in 0..<64 {
            let t = try core.refresh(refreshToken: refresh, clientAddress: nil)
            refresh = t.refreshToken
            tokens.append(Array(t.accessToken.utf8))
        }
        for threads in [1, 2, 4] {
            let perThread = max(1, iterations / threads)
            let shared = tokens
            let start = DispatchTime.now().uptimeNanoseconds
            runTogether(threads) { worker in
                var ok = 0
                for i in 0..<perThread {
                    shared[(i &+ worker &* 17) % shared.count].withUnsafeBufferPointer { t in
                        if case .valid = core.validate(tokenBytes: t) { ok += 1 }
                    }
                }
                precondition(ok == perThread, "a token was refused")
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
            print(String(format: "validate cached on %d thread(s) at once: %.0f validations/s in all (%d cores)",
                         threads, Double(perThread * threads) / (elapsed / 1e9), ProcessInfo.processInfo.activeProcessorCount))
        }
    }
}

/// The core's settings the validation benchmarks share (the tests' fixed keys, cheap argon2id:
/// hashing is not what they measure).
enum BenchFixtures {
    static let key = AuthTestConfiguration.key1

    static func configuration() -> AuthConfiguration {
        AuthTestConfiguration.make(issuer: "auth")
    }
}
