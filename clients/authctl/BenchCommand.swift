import ArgumentParser
import AuthAPI
import AuthClient
import Foundation
import RPCCore
import RPCTransport

/// `authctl bench`: a load generator in the spirit of ghz, for token validation above all.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test the server: validate (default), login, register, status, health or service-token.",
        discussion: """
            validate and status use tokens of --users generated test users (bench-<random>-<i>@example.com, registered or logged in first) or of --token-file; login logs those users in; register makes new ones.

            Closed loop by default (--concurrency calls in flight, each sent when the previous answer is in); --rate switches to an open loop at a constant arrival rate, with latency measured from each call's due time. A progress line is drawn on standard error when it is a terminal. The summary tells how much CPU authctl itself used.

            Example:
              authctl bench --connections 4 --concurrency 64 --users 1000 --duration 15
              authctl bench validate --rate 50000 --duration 10 --json
              authctl bench health --requests 100000
              authctl bench validate --token-file service-tokens.txt --require-scope orders:read
              authctl bench service-token --client-id billing --client-secret-stdin < secret.txt
              authctl bench --duration 5 --hdr-out run.hgrm --plot run.svg
              authctl bench plot before.hgrm after.hgrm -o compare.svg
            """,
        subcommands: [BenchPlot.self])

    @OptionGroup var options: ConnectionOptions

    @Argument(help: ArgumentHelp("What to call.", valueName: "scenario"))
    var scenario: BenchScenario.Kind = .validate
    @Option(name: .customLong("require-scope"), help: "validate: a scope every request requires (repeat for several).")
    var requiredScopes: [String] = []
    @Option(help: "service-token: the service account's client id.") var clientId: String?
    @Flag(help: "service-token: read the client secret from the first line of standard input.") var clientSecretStdin = false

    @Option(help: "TLS connections the calls are spread over.") var connections: Int = 2
    @Option(help: "Calls in flight at most, over all connections.") var concurrency: Int = 32
    @Option(help: "Seconds to measure (default 10 unless --requests is given).") var duration: Double?
    @Option(help: "Measured calls to make, instead of --duration.") var requests: Int?
    @Option(help: "Calls per second, sent at a constant arrival rate (open loop); without it, closed loop.")
    var rate: Double?
    @Option(help: "Seconds of calls before measuring (not counted).") var warmup: Double = 1
    @Option(help: "Test users to create for validate, status and login.") var users: Int = 100
    @Option(help: ArgumentHelp("A file of many tokens to validate (or use for status), one a line as TOKEN or EMAIL TOKEN (login needs the emails), instead of creating users. (The other commands' --token-file holds their one token.)",
                               valueName: "file"))
    var tokenFile: String?
    @Option(help: "Write the test users as EMAIL TOKEN lines to this file, mode 0600 (for a later --token-file).")
    var saveTokens: String?
    @Option(help: "TLS connections to open and hold idle during the run (to measure a loaded server).")
    var idleConnections: Int = 0
    @Option(help: "How the generator drives calls: pipelined (each reply's callback starts the next call on the connection's I/O thread; open loop: one pacer thread), async (Swift tasks) or threads (one blocked thread per call in flight).")
    var engine: BenchEngine = .pipelined
    @Option(help: "Microseconds each connection's I/O thread polls for replies without sleeping before it sleeps (0: off). Lowers one-call-at-a-time latency by the thread wake-up, for up to a core of client CPU.")
    var busyPoll: Int = 0
    @Option(help: ArgumentHelp("Write the latency histogram to this file in HdrHistogram's percentile-distribution format (.hgrm, milliseconds), for `authctl bench plot` or HdrHistogram's plotters.", valueName: "file"))
    var hdrOut: String?
    @Option(help: ArgumentHelp("Draw latency by percentile (log-scaled percentile axis) to this SVG file.", valueName: "file.svg"))
    var plot: String?

    func validate() throws {
        guard (1...1024).contains(connections) else { throw ValidationError("--connections must be within 1...1024") }
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be within 1...10000") }
        guard duration == nil || requests == nil else { throw ValidationError("give --duration or --requests, not both") }
        if let duration, !(duration > 0 && duration <= 86_400) { throw ValidationError("--duration must be within (0, 86400]") }
        if let requests, requests < 1 { throw ValidationError("--requests must be at least 1") }
        if let rate, !(rate > 0 && rate <= 10_000_000) { throw ValidationError("--rate must be within (0, 10000000]") }
        guard warmup >= 0, warmup <= 3600 else { throw ValidationError("--warmup must be within [0, 3600]") }
        guard (1...1_000_000).contains(users) else { throw ValidationError("--users must be within 1...1000000") }
        guard (0...1_000_000).contains(busyPoll) else { throw ValidationError("--busy-poll must be within 0...1000000 microseconds") }
        guard (0...100_000).contains(idleConnections) else { throw ValidationError("--idle-connections must be within 0...100000") }
        if tokenFile != nil, ![.validate, .status, .login].contains(scenario) {
            throw ValidationError("--token-file is for the validate, status and login scenarios")
        }
        if !requiredScopes.isEmpty, scenario != .validate { throw ValidationError("--require-scope is for the validate scenario") }
        if scenario == .serviceToken, clientId == nil || !clientSecretStdin {
            throw ValidationError("service-token needs --client-id and --client-secret-stdin")
        }
    }

    func run() throws {
        let kind = self.scenario
        var service: (clientID: String, secret: String)?
        if kind == .serviceToken, let clientId {
            service = (clientId, try PasswordReader.readClientSecret())
        }
        let progress = ProgressLine()
        // With several --server addresses, connections are spread over them round-robin.
        var configurations = try options.clientConfigurations()
        if busyPoll > 0 {
            for i in configurations.indices { configurations[i].busyPoll = .microseconds(busyPoll) }
        }
        var connections: [ClientConnection] = []
        for i in 0..<self.connections {
            do { connections.append(try ClientConnection(configuration: configurations[i % configurations.count])) } catch {
                throw CLIError.usage("TLS settings: \(error)")
            }
        }
        // Closed and waited for, so the process does not exit while an I/O thread still makes TLS calls.
        defer { for c in connections { c.close(waitingUpTo: .seconds(2)) } }
        let clients = connections.map { Auth.Client(transport: $0) }
        // Connect every connection first, so a dead server fails fast (exit 3) and handshakes are not measured.
        for client in clients {
            _ = try perform { try client.health(HealthRequest(), options: options.plain) }
        }

        var users: BenchUsers?
        if let tokenFile {
            users = try BenchUsers.load(tokenFile: tokenFile)
            if kind == .login && users?.emails.isEmpty != false {
                throw CLIError.usage("--token-file: login needs EMAIL TOKEN lines (as --save-tokens writes)")
            }
        } else if kind != .health && kind != .register && kind != .serviceToken {
            let count = self.users
            let made = AtomicCounter()
            // At most 8 registrations in flight per connection: authd's default --max-blocking-calls.
            users = try BenchUsers.create(count: self.users, clients: clients, concurrency: min(concurrency, 64, 8 * clients.count),
                                          timeout: .seconds(max(options.timeout, 60)), progress: { _ in
                let n = made.next() + 1
                progress.update("preparing \(n)/\(count) test users")
            })
            progress.clear()
        }
        if let saveTokens, let users {
            guard FileManager.default.createFile(atPath: saveTokens, contents: Data(users.fileText.utf8),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw CLIError.local("cannot write \(saveTokens)")
            }
        }

        let idle = try IdleConnections.open(count: idleConnections, configuration: configurations[0], progress: progress)
        defer { idle.close() }

        let plan = BenchPlan(concurrency: concurrency, duration: requests == nil ? (duration ?? 10) : nil,
                             requests: requests, rate: rate, warmup: warmup, engine: engine)
        let scenario = BenchScenario.make(kind, users: users, timeout: options.callTimeout, requiredScopes: requiredScopes,
                                          service: service)
        let cpuBefore = processCPUSeconds()
        let runner = BenchRunner(plan: plan, scenario: scenario, clients: connections)
        let started = monotonicNanos()
        var lastCount = 0
        var lastTime = started
        let recorder = runner.run(tickInterval: 0.25) {
            let now = monotonicNanos()
            let count = runner.completed.current
            let rate = Double(count - lastCount) * 1e9 / Double(max(1, now - lastTime))
            lastCount = count
            lastTime = now
            let elapsed = Double(now - started) / 1e9
            let phase = now < runner.measuredFrom ? " (warming up)" : ""
            progress.update(String(format: "%6.1f s  %9.0f calls/s  %10d calls  %d errors%@", elapsed, rate, count,
                                   runner.failed.current, phase))
        }
        let cpu = processCPUSeconds() - cpuBefore
        progress.clear()
        let end = recorder.lastDone > 0 ? recorder.lastDone : monotonicNanos()
        let summary = BenchSummary(scenario: kind.rawValue, recorder: recorder,
                                   durationSeconds: Double(end - min(end, runner.measuredFrom)) / 1e9,
                                   clientCPUSeconds: cpu, connections: self.connections, concurrency: concurrency,
                                   targetRate: rate.map { Int($0) }, engine: engine.rawValue, idleConnections: idle.count,
                                   callsTotal: runner.completed.current, elapsedSeconds: Double(monotonicNanos() - started) / 1e9)
        if let hdrOut { try writeFile(hdrOut, hgrmText(recorder.latency)) }
        if let plot {
            try writeFile(plot, LatencyPlot.svg([LatencyDistribution(name: "\(kind.rawValue) (\(summary.count) calls)", histogram: recorder.latency)],
                                                title: "authctl bench \(kind.rawValue): latency by percentile"))
        }
        options.printer.result(summary.jsonFields, text: summary.text)
    }
}

/// The live progress line on standard error, drawn only when it is a terminal.
final class ProgressLine: @unchecked Sendable {
    // @unchecked: `lock` guards `shown`.
    private let enabled = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var shown = false

    func update(_ text: String) {
        guard enabled else { return }
        lock.withLock {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
            shown = true
        }
    }

    func clear() {
        guard enabled else { return }
        lock.withLock {
            if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            shown = false
        }
    }
}
