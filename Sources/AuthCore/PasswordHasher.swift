import CSodium
import Foundation
import Support

/// argon2id password hashing through libsodium, producing and reading PHC strings
/// (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
public struct PasswordHasher: Sendable {
    public let parameters: Argon2Parameters
    /// A hash of a random password with the current parameters: an unknown email is verified
    /// against it so that it costs the same time as a wrong password.
    let dummyHash: String
    /// At most `concurrency` hashes run at once; other callers wait their turn. argon2id is
    /// CPU- and memory-bound (19 MiB a hash), so more hashes than cores only time-slice: each
    /// takes longer, the caches and the memory bus are shared by more of them, and the blocked
    /// worker threads cannot do database work meanwhile.
    private let slots: DispatchSemaphore
    public let concurrency: Int
    /// argon2id runs so far (hashes and verifications, the dummy ones included): tests count the
    /// work an attack costs with it. Shared by copies of this hasher.
    private let runs = Locked(0)
    /// Callers waiting for a slot now (metrics).
    private let waiting = Locked(0)

    /// - Parameter concurrency: hashes at once at most (default: the number of cores).
    public init(parameters: Argon2Parameters, concurrency: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        // sodium_init: 0 on success, 1 if already initialised, -1 on failure.
        guard sodium_init() >= 0 else { throw ConfigurationError("libsodium failed to initialise") }
        try parameters.check()
        guard concurrency >= 1 else { throw ConfigurationError("password hashing concurrency must be at least 1") }
        self.parameters = parameters
        self.concurrency = concurrency
        slots = DispatchSemaphore(value: concurrency)
        dummyHash = try Self.hash(Base64URL.encode(SecureRandom.bytes(24)), parameters)
    }

    /// Runs `body` in one of the `concurrency` slots.
    private func inSlot<T>(_ body: () throws -> T) rethrows -> T {
        runs.withLock { $0 += 1 }
        waiting.withLock { $0 += 1 }
        slots.wait()
        waiting.withLock { $0 -= 1 }
        defer { slots.signal() }
        return try body()
    }

    /// argon2id runs so far through this hasher (hashes and verifications).
    var argon2Runs: Int { runs.withLock { $0 } }

    /// Callers waiting for a hashing slot now.
    var argon2Waiting: Int { waiting.withLock { $0 } }

    private var opslimit: UInt64 { UInt64(parameters.iterations) }
    private var memlimit: Int { parameters.memoryKiB * 1024 }

    /// A new PHC string for `password` with a fresh random salt.
    public func hash(_ password: String) throws -> String { try inSlot { try Self.hash(password, parameters) } }

    /// One hash, on the calling thread, outside the slots (start-up and `PasswordHashTiming`).
    static func hash(_ password: String, _ parameters: Argon2Parameters) throws -> String {
        let opslimit = UInt64(parameters.iterations), memlimit = parameters.memoryKiB * 1024
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
        let pw = password.utf8CString  // NUL-terminated, so never empty; the length excludes the NUL
        // crypto_pwhash_str_alg: 0 on success, -1 when the memory cannot be allocated (or the
        // limits are out of range, which check() excludes).
        let rc = pw.withUnsafeBufferPointer { p in
            crypto_pwhash_str_alg(&out, p.baseAddress!, UInt64(p.count - 1), opslimit, memlimit,
                                  crypto_pwhash_ALG_ARGON2ID13)
        }
        guard rc == 0 else { throw AuthError.internal("argon2id hashing failed (out of memory?)") }
        let end = out.firstIndex(of: 0) ?? out.count
        return String(decoding: out[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash does not match.
    public func verify(_ password: String, against hash: String) -> Bool {
        let pw = password.utf8CString
        // crypto_pwhash_str_verify: 0 on match, -1 on mismatch or an unreadable string.
        return inSlot {
            pw.withUnsafeBufferPointer { p in crypto_pwhash_str_verify(hash, p.baseAddress!, UInt64(p.count - 1)) == 0 }
        }
    }

    /// Costs the same as `verify` with a wrong password: for unknown emails.
    public func verifyDummy(_ password: String) {
        _ = verify(password, against: dummyHash)
    }

    /// Whether a stored hash was made with other parameters (or another algorithm) and should be
    /// replaced at the next successful login.
    public func needsRehash(_ hash: String) -> Bool {
        // crypto_pwhash_str_needs_rehash: 0 when current, 1 when different, -1 when unreadable.
        crypto_pwhash_str_needs_rehash(hash, opslimit, memlimit) != 0
    }
}
