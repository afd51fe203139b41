import Foundation
import RPCTransport

extension IdleConnections {
    /// `bench --idle-connections`: opens `count` idle connections (after lifting this process's
    /// open-files limit to fit them), showing how far it got on `progress`; failures as `CLIError`.
    static func open(count: Int, configuration: ClientConfiguration, progress: ProgressLine) throws(CLIError) -> IdleConnections {
        if count > 0 { raiseFileLimit(to: count + 1024) }
        defer { progress.clear() }
        do {
            return try open(count: count, configuration: configuration, progress: { opened in
                if opened % 256 == 0 { progress.update("opening idle connections: \(opened)/\(count)") }
            })
        } catch let error as TLSError {
            throw .usage("TLS settings: \(error)")
        } catch {
            throw CLIError(error)
        }
    }

    /// Lifts the soft limit on open files towards `wanted` (up to the hard limit).
    private static func raiseFileLimit(to wanted: Int) {
        var limit = rlimit()
        // getrlimit and setrlimit return 0, or -1 with errno (EPERM above the hard limit, which we avoid).
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
        limit.rlim_cur = min(limit.rlim_max, rlim_t(wanted))
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
