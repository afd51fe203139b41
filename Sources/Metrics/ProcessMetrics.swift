import Glibc

/// The standard `process_*` metrics of the running process, read from /proc/self at scrape time
/// (the names and meanings the Prometheus client libraries use).
public enum ProcessMetrics {
    /// Appends `process_cpu_seconds_total`, `process_resident_memory_bytes`,
    /// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds` and
    /// `process_start_time_seconds`. A file that cannot be read leaves its metrics out.
    public static func write(to text: inout MetricsText) {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = readFile("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            // Fields after "pid (comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ n: Int) -> Double? { fields.count > n - 3 ? Double(fields[n - 3]) : nil }
            if let user = field(14), let system = field(15) {
                text.family("process_cpu_seconds_total", type: .counter, help: "Total user and system CPU time spent in seconds.")
                text.sample("process_cpu_seconds_total", value: (user + system) / ticks)
            }
            if let started = field(22), let boot = bootTime() {
                text.family("process_start_time_seconds", type: .gauge, help: "Start time of the process since unix epoch in seconds.")
                text.sample("process_start_time_seconds", value: boot + (started / ticks).rounded(.down))
            }
            if let virtual = field(23) {
                text.family("process_virtual_memory_bytes", type: .gauge, help: "Virtual memory size in bytes.")
                text.sample("process_virtual_memory_bytes", value: virtual)
            }
            if let resident = field(24) {
                text.family("process_resident_memory_bytes", type: .gauge, help: "Resident memory size in bytes.")
                text.sample("process_resident_memory_bytes", value: resident * pageSize)
            }
        }
        if let open = openDescriptors() {
            text.family("process_open_fds", type: .gauge, help: "Number of open file descriptors.")
            text.sample("process_open_fds", value: open)
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {  // getrlimit fails only for a bad resource (a bug)
            text.family("process_max_fds", type: .gauge, help: "Maximum number of open file descriptors.")
            text.sample("process_max_fds", value: Double(limit.rlim_cur))
        }
    }

    /// The boot time (seconds since 1970) from /proc/stat's `btime` line.
    static func bootTime() -> Double? {
        guard let stat = readFile("/proc/stat") else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingPrefix(" "))
        }
        return nil
    }

    /// Entries of /proc/self/fd (less the descriptor the listing itself holds).
    static func openDescriptors() -> Int? {
        // opendir returns nil with errno (ENOENT without /proc, EMFILE).
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
            if first != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)
    }

    /// A small /proc file as text (their size reads as 0, so read until the end).
    static func readFile(_ path: String) -> String? {
        // open returns -1 with errno (ENOENT, EACCES, EMFILE).
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            // read returns the count, 0 at the end, or -1 with errno (EINTR).
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
