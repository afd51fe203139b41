import Foundation
import Support

/// What one argon2id hash costs on this machine with given parameters: for choosing the
/// parameters, and for the bound that login throughput is compared with (cores ÷ one hash's
/// time; `authd hash-time` prints it, `scripts/bench-core` runs that).
public struct PasswordHashTiming: Sendable {
    public var parameters: Argon2Parameters
    /// Hashes timed one after another on one thread.
    public var count: Int
    /// Wall time of one hash alone, in milliseconds: the median over `count`.
    public var hashMilliseconds: Double
    /// CPU time per hash alone (user + system), and its two parts, in milliseconds. The system
    /// part is the kernel providing the fresh 19 MiB libsodium maps for every hash.
    public var cpuMilliseconds: Double
    public var userMilliseconds: Double
    public var systemMilliseconds: Double
    /// Threads hashing at once in the second measurement, and the hashes per second they made in all.
    public var threads: Int
    public var parallelRate: Double
    public var cores: Int

    /// cores ÷ one hash's wall time: the most logins per second the cores allow.
    public var loginBound: Double { Double(cores) / (hashMilliseconds / 1000) }

    /// Times `count` hashes on this thread, then `count` hashes on each of `threads` threads at once.
    public static func measure(parameters: Argon2Parameters, count: Int = 10, threads: Int = ProcessInfo.processInfo.activeProcessorCount)
        throws -> PasswordHashTiming {
        try parameters.check()
        let password = "correct horse battery staple"
        _ = try PasswordHasher.hash(password, parameters)  // warm-up
        var walls: [Double] = []
        let usage0 = ResourceUsage.now()
        for _ in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try PasswordHasher.hash(password, parameters)
            walls.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let usage1 = ResourceUsage.now()
        walls.sort()

        let failures = Locked(0)
        let group = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<threads {
            group.enter()
            Thread.detachNewThread {
                for _ in 0..<count where (try? PasswordHasher.hash(password, parameters)) == nil { failures.withLock { $0 += 1 } }
                group.leave()
            }
        }
        group.wait()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard failures.withLock({ $0 }) == 0 else { throw AuthError.internal("argon2id hashing failed while timing") }
        let user = (usage1.user - usage0.user) * 1000 / Double(count), system = (usage1.system - usage0.system) * 1000 / Double(count)
        return PasswordHashTiming(parameters: parameters, count: count, hashMilliseconds: walls[walls.count / 2],
                                  cpuMilliseconds: user + system, userMilliseconds: user, systemMilliseconds: system,
                                  threads: threads, parallelRate: Double(threads * count) / elapsed,
                                  cores: ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// The process's CPU time so far (getrusage), in seconds.
private struct ResourceUsage {
    var user: Double
    var system: Double

    static func now() -> ResourceUsage {
        var u = rusage()
        // getrusage(RUSAGE_SELF): 0; fails only for a bad `who` or pointer.
        precondition(getrusage(RUSAGE_SELF.rawValue, &u) == 0, "getrusage failed")
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return ResourceUsage(user: seconds(u.ru_utime), system: seconds(u.ru_stime))
    }
}
