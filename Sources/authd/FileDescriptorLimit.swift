import AuthCore
import Glibc
import Logging

/// The open-file limit (RLIMIT_NOFILE) `authd serve` needs: one descriptor per connection up to
/// `--max-connections`, plus a reserve. Sized at start, so that a full server fails loudly at
/// start-up instead of failing accepts (EMFILE) under load.
enum FileDescriptorLimit {
    /// Descriptors beyond the connections: the database pool, the listener, an epoll set and an
    /// eventfd per I/O thread, and 64 for files (certificates, secrets, the ready file), standard
    /// streams and the runtime.
    static func reserve(databasePool: Int, ioThreads: Int) -> Int {
        databasePool + 1 + 2 * ioThreads + 64
    }

    /// Raises the soft limit to what `maxConnections` and `reserve` need when it is lower, up to
    /// the hard limit; refuses (a configuration error, naming the numbers) when the hard limit is
    /// lower. Returns the soft limit in force.
    @discardableResult
    static func ensure(maxConnections: Int, reserve: Int, logger: Logger) throws(ConfigurationError) -> Int {
        let needed = maxConnections + reserve
        var limit = rlimit()
        // getrlimit returns 0, or -1 with EFAULT/EINVAL (a bug of ours).
        precondition(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, "getrlimit(RLIMIT_NOFILE) failed")
        // RLIM_INFINITY is all ones on Linux: clamped to Int.max, it is above any need.
        let soft = Int(clamping: limit.rlim_cur)
        let hard = Int(clamping: limit.rlim_max)
        if soft >= needed { return soft }
        guard hard >= needed else {
            throw ConfigurationError("--max-connections \(maxConnections) needs \(needed) open files (\(maxConnections) "
                + "connections + \(reserve) for the database pool, the listener, the I/O threads and files), but the hard "
                + "limit RLIMIT_NOFILE is \(hard): lower --max-connections or raise the limit (ulimit -Hn; LimitNOFILE= in a systemd unit)")
        }
        limit.rlim_cur = rlim_t(needed)
        // setrlimit returns 0, or -1 with EPERM (above the hard limit: checked above) or EINVAL.
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw ConfigurationError("--max-connections \(maxConnections) needs \(needed) open files, and raising the soft "
                + "limit RLIMIT_NOFILE from \(soft) failed (errno \(errno))")
        }
        logger.notice("open-file limit raised", metadata: ["from": "\(soft)", "to": "\(needed)", "hard": "\(hard)"])
        return needed
    }
}
