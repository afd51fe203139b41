import ArgumentParser
import AuthCore
import Foundation
import RPCCore

extension Authd {
    /// Times argon2id with the configured parameters on this machine: one hash alone, then one
    /// thread per core at once. The bound it prints (cores ÷ one hash's time) is the most logins
    /// per second the cores allow; benchmarks compare login throughput with it.
    struct HashTime: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-time",
            abstract: "Time one argon2id password hash with the configured parameters.",
            discussion: "Example: authd hash-time --argon2-memory-kib 19456 --argon2-iterations 2 --json")

        @OptionGroup var argon2: Argon2Options
        @Option(help: "Hashes timed one after another, and per thread at once (default 10).") var count = 10
        @Option(help: "Threads hashing at once in the second measurement (default: the number of cores).") var threads: Int?
        @Flag(help: "One JSON object instead of text.") var json = false

        func run() throws {
            let timing: PasswordHashTiming
            do {
                let parameters = try argon2.parameters(environment: ProcessInfo.processInfo.environment)
                guard (1...1000).contains(count) else { throw ConfigurationError("--count must be in 1...1000") }
                let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
                guard (1...256).contains(threads) else { throw ConfigurationError("--threads must be in 1...256") }
                timing = try PasswordHashTiming.measure(parameters: parameters, count: count, threads: threads)
            } catch let error as ConfigurationError {
                throw exitForConfiguration(error)
            }
            let p = timing.parameters
            if json {
                func f(_ v: Double) -> String { String(format: "%.2f", v) }
                print("{\"memory_kib\":\(p.memoryKiB),\"iterations\":\(p.iterations),\"parallelism\":\(p.parallelism),"
                      + "\"count\":\(timing.count),\"hash_ms\":\(f(timing.hashMilliseconds)),\"cpu_ms\":\(f(timing.cpuMilliseconds)),"
                      + "\"user_ms\":\(f(timing.userMilliseconds)),\"system_ms\":\(f(timing.systemMilliseconds)),"
                      + "\"threads\":\(timing.threads),\"parallel_hashes_per_s\":\(f(timing.parallelRate)),"
                      + "\"cores\":\(timing.cores),\"login_bound_per_s\":\(f(timing.loginBound))}")
            } else {
                print("argon2id m=\(p.memoryKiB) KiB, t=\(p.iterations), p=\(p.parallelism) (libsodium), \(timing.cores) cores")
                print(String(format: "argon2id one hash alone: %.1f ms (median of %d); CPU %.1f ms (user %.1f, system %.1f)",
                             timing.hashMilliseconds, timing.count, timing.cpuMilliseconds, timing.userMilliseconds, timing.systemMilliseconds))
                print(String(format: "argon2id on %d threads at once: %.1f hashes/s in all", timing.threads, timing.parallelRate))
                print(String(format: "argon2id login bound: %d cores / %.1f ms = %.1f logins/s",
                             timing.cores, timing.hashMilliseconds, timing.loginBound))
            }
        }
    }
}
