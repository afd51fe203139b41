import ArgumentParser

/// Benchmarks of the hot paths, kept out of `swift test`: each subcommand measures, prints its
/// figures and asserts nothing about time. Build it in release mode (debug figures are several
/// times slower):
///
///     swift build -c release --product authbench
///     taskset -c 0 .build/release/authbench validate       # what scripts/bench-core runs
///     .build/release/authbench empty-calls --seconds 5
@main
struct AuthBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authbench",
        abstract: "Measures token validation and the RPC transport on this machine and prints the figures.",
        subcommands: [ValidateBenchmark.self, ValidateThreadsBenchmark.self, EmptyCallsBenchmark.self,
                      IdleConnectionsBenchmark.self])
}
